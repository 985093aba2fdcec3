"""A clock the unit tests step by hand: ``clock()`` is the time, ``clock.sleep(s)`` moves it on."""


class StepClock(object):
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
