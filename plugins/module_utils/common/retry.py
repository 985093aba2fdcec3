# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one retry policy of the collection: a wall-clock deadline and/or a number of attempts,
exponential backoff with full jitter, and one set of statuses that mean "not yet" rather than
"wrong".

Every client that retries (the OpenAI-compatible smoke test, the Model Registry, the S3 reader,
the InferenceService watch) makes a ``Retry`` per request (or per wait) and asks it ``again``
after each failed attempt; tests give it a fake clock, sleep and random source.

The shape is botocore's standard retry mode (botocore/retries/standard.py,
https://github.com/boto/botocore/blob/develop/botocore/retries/standard.py):
``ExponentialBackoff.delay_amount`` is ``rand(0, 1) * min(base * 2 ** (attempt - 1), MAX_BACKOFF)``
(full jitter), a server's retry-after hint is honoured as ``max(t_i, min(retry_after, ...))``,
``MaxAttemptsChecker`` counts attempts including the first, and ``TransientRetryableChecker``
retries the statuses 500, 502, 503 and 504 (and ``ThrottledRetryableChecker`` the throttling
error codes, which arrive as 429 or 503).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import time

# 429: rate limited (honour Retry-After); 500: MinIO and the registry's database restarting;
# 502/504: a gateway or route in front of a pod that is not up yet; 503: vLLM, KServe and the
# registry while they start or load. botocore's standard mode retries 500/502/503/504 and the
# throttling codes (TooManyRequestsException, SlowDown...), i.e. 429 and 503 answers.
RETRYABLE_STATUSES = frozenset((429, 500, 502, 503, 504))
BACKOFF_BASE = 0.25
BACKOFF_MAX = 5.0
# A server's Retry-After is followed up to this many seconds (a longer one is its guess; the
# deadline bounds the wait in any case).
RETRY_AFTER_MAX = 10.0
# An attempt that would start with less time than this left cannot succeed: give up instead.
MIN_ATTEMPT_SECONDS = 0.05


def retryable(status):
    """True for an HTTP status worth another attempt (None: no response, also retryable)."""
    return status is None or status in RETRYABLE_STATUSES


class Retry(object):
    """Attempts until ``timeout`` seconds have passed (or until ``deadline``, a time on ``clock``;
    None for both: no deadline) and at most ``attempts`` in all (None: no limit; the first attempt
    counts, as in botocore's ``total_max_attempts``)."""

    def __init__(self, timeout=None, attempts=None, base=BACKOFF_BASE, cap=BACKOFF_MAX,
                 clock=time.monotonic, sleep=time.sleep, rng=None, deadline=None):
        if deadline is None and timeout is not None:
            deadline = clock() + timeout
        if deadline is None and attempts is None:
            raise ValueError("a Retry needs a deadline, a number of attempts or both")
        self.deadline, self.attempts = deadline, attempts
        self.base, self.cap = base, cap
        self.clock, self._sleep, self.rng = clock, sleep, rng or random.Random()

    def remaining(self):
        """Seconds left before the deadline (infinite without one)."""
        return float("inf") if self.deadline is None else self.deadline - self.clock()

    def delay(self, attempt, retry_after=None):
        """Full jitter, uniform(0, min(cap, base * 2**attempt)); a server's Retry-After raises it
        to at most RETRY_AFTER_MAX seconds."""
        jitter = self.rng.uniform(0, min(self.cap, self.base * (2 ** attempt)))
        if retry_after is None:
            return jitter
        return max(jitter, min(float(retry_after), RETRY_AFTER_MAX))

    def again(self, attempt, retry_after=None):
        """After failed attempt number ``attempt`` (0, 1, ...): sleep the backoff (never past the
        deadline) and return True when another attempt may start, False when none is left (the
        count is used up, or the deadline has come: then it has slept until the deadline)."""
        if self.attempts is not None and attempt + 1 >= self.attempts:
            return False
        remaining = self.remaining()
        if remaining > 0:
            self._sleep(min(self.delay(attempt, retry_after), remaining))
        return self.remaining() > MIN_ATTEMPT_SECONDS
