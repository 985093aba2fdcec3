# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one retry policy of the collection: a wall-clock deadline, exponential backoff with full
jitter, and one set of statuses that mean "not yet" rather than "wrong".

Every client that retries (the OpenAI-compatible smoke test, the Model Registry, the S3 reader,
the InferenceService watch) takes a ``Retry``; tests give it a fake clock, sleep and random source.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import time

# 429: rate limited (honour Retry-After); 500: MinIO and the registry's database restarting;
# 502/504: a gateway or route in front of a pod that is not up yet; 503: vLLM, KServe and the
# registry while they start or load.
RETRYABLE_STATUSES = frozenset((429, 500, 502, 503, 504))
BACKOFF_BASE = 0.25
BACKOFF_MAX = 5.0


def retryable(status):
    """True for an HTTP status worth another attempt (None: no response, also retryable)."""
    return status is None or status in RETRYABLE_STATUSES


class Retry(object):
    """Attempts until ``timeout`` seconds have passed (and at most ``attempts``, when given)."""

    def __init__(self, timeout, attempts=None, base=BACKOFF_BASE, cap=BACKOFF_MAX, clock=time.monotonic,
                 sleep=time.sleep, rng=None):
        self.clock = clock
        self.deadline = clock() + timeout
        self.attempts = attempts
        self.base = base
        self.cap = cap
        self._sleep = sleep
        self.rng = rng or random.Random()

    def remaining(self):
        return self.deadline - self.clock()

    def delay(self, attempt, retry_after=None):
        """Full jitter: uniform(0, min(cap, base * 2**attempt)); a server's Retry-After wins, capped."""
        if retry_after is not None:
            return min(float(retry_after), self.cap)
        return self.rng.uniform(0, min(self.cap, self.base * (2 ** attempt)))

    def again(self, attempt, retry_after=None):
        """After failed attempt number ``attempt`` (0, 1, ...): sleep the backoff and return True,
        or return False when no attempt is left (count or deadline)."""
        if self.attempts is not None and attempt + 1 >= self.attempts:
            return False
        remaining = self.remaining()
        if remaining <= 0:
            return False
        self._sleep(min(self.delay(attempt, retry_after), remaining))
        return True
