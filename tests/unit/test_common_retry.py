"""The one retry policy of module_utils (common/retry.py), on a fake clock."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.retry import (  # noqa: E402
    RETRY_AFTER_MAX,
    RETRYABLE_STATUSES,
    Retry,
    retryable,
)


def test_retryable_statuses_are_not_yet_rather_than_wrong():
    assert RETRYABLE_STATUSES == {429, 500, 502, 503, 504}
    assert retryable(None) and retryable(503) and retryable(429)
    assert not any(retryable(s) for s in (200, 301, 400, 401, 403, 404, 409, 422))


def test_full_jitter_grows_exponentially_up_to_the_cap(fake_time):
    retry = Retry(timeout=1000, base=0.25, cap=5.0, **fake_time.retry_kwargs())
    for attempt in range(12):
        bound = min(5.0, 0.25 * 2 ** attempt)
        delays = [retry.delay(attempt) for dummy in range(200)]
        assert all(0 <= d <= bound for d in delays)
        assert max(delays) > bound / 2  # jitter over the whole range, not a constant


def test_retry_after_raises_the_delay_up_to_its_maximum(fake_time):
    retry = Retry(timeout=1000, **fake_time.retry_kwargs())
    assert retry.delay(0, retry_after=3) == 3
    assert retry.delay(0, retry_after=3600) == RETRY_AFTER_MAX
    assert retry.delay(0, retry_after=0) <= 0.25


def test_attempts_count_the_first_one(fake_time):
    retry = Retry(attempts=4, **fake_time.retry_kwargs())
    assert [retry.again(a) for a in range(4)] == [True, True, True, False]
    assert len(fake_time.sleeps) == 3 and retry.remaining() == float("inf")


def test_deadline_sleeps_until_it_then_stops(fake_time):
    retry = Retry(timeout=2, base=1, cap=100, **fake_time.retry_kwargs())
    attempt = 0
    while retry.again(attempt, retry_after=0.75):
        attempt += 1
    assert fake_time.now == pytest.approx(1002.0)  # never past the deadline
    assert retry.remaining() <= 0 and not retry.again(attempt + 1)
    assert len(fake_time.sleeps) == attempt + 1


def test_a_policy_needs_a_bound():
    with pytest.raises(ValueError):
        Retry()


def test_an_absolute_deadline_is_kept_as_given(fake_time):
    retry = Retry(deadline=1001.5, **fake_time.retry_kwargs())
    assert retry.remaining() == 1.5
    while retry.again(0):
        pass
    assert fake_time.now == 1001.5
