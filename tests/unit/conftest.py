"""Shared fixtures of the unit tests."""

import random

import pytest


class FakeTime:
    """A monotonic clock that only moves when something sleeps; every sleep is recorded."""

    def __init__(self, now=1000.0):
        self.now = now
        self.sleeps = []
        self.rng = random.Random(14)

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    def retry_kwargs(self):
        """What every retrying client takes to run on this clock."""
        return {"clock": self, "sleep": self.sleep, "rng": self.rng}


@pytest.fixture()
def fake_time():
    return FakeTime()
