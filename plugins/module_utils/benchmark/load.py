# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load profiles, named as GuideLLM names them, run by threads in this one process.

- ``synchronous``: one request at a time.
- ``concurrent``: ``concurrency`` streams, each sending its next request when the last ends.
- ``throughput``: ``max_concurrency`` streams, as many requests in flight as allowed: the maximum
  throughput (GuideLLM's ``throughput`` profile, ThroughputStrategy with max_concurrency).
- ``constant``: requests start at ``rate`` per second, evenly spaced.
- ``poisson``: requests start at ``rate`` per second on average, exponential gaps (seeded).
- ``sweep``: synchronous, then throughput, then ``sweep_points - 2`` constant (or Poisson) rates,
  GuideLLM's sweep exactly: ``numpy.linspace(synchronous rate, throughput rate, sweep_points - 1)[1:]``,
  so the last rate is the measured maximum (vllm-project/guidellm v0.8.1
  src/guidellm/benchmark/profiles/sweep.py, SweepProfile.next_strategy).
Every run stops sending at ``max_requests`` requests or ``max_seconds`` seconds, whichever comes
first; requests already sent finish (each bounded by the request timeout). A rate profile's
requests wait on the client when ``max_concurrency`` are in flight (as ``vllm bench serve
--max-concurrency``); the wait is not in their TTFT, which starts when a request is sent.

Several endpoints (``interleaved``) run level by level, one endpoint at a time, the order of the
endpoints alternating from one level to the next (A B, B A, A B, ...): no endpoint always runs first
on a cold machine or last on a warm one, and none runs all its levels before the others start.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import threading
import time

from ansible_collections.private_ai.llm_serving.plugins.module_utils.benchmark.client import Worker
from ansible_collections.private_ai.llm_serving.plugins.module_utils.benchmark.metrics import summarize

PROFILES = ("synchronous", "concurrent", "throughput", "constant", "poisson", "sweep")


class Bounds(object):
    """When a run stops sending: a request count and/or seconds (at least one)."""

    def __init__(self, max_requests=None, max_seconds=None):
        self.max_requests = max_requests
        self.max_seconds = max_seconds


class Run(object):
    """One load level: its profile, the numbers that define it, and its request records."""

    def __init__(self, profile, concurrency=None, rate=None):
        self.profile = profile
        self.concurrency = concurrency
        self.rate = rate
        self.records = []
        self.lock = threading.Lock()
        self.sent = 0
        self.t_start = None
        self.t_end = None
        self.cpu = 0.0
        self.sequence = None  # position in the whole benchmark (interleaved)
        self.level = None

    def take(self, bounds, clock):
        """The index of the next request to send, or None when the run is bounded out."""
        with self.lock:
            if bounds.max_requests is not None and self.sent >= bounds.max_requests:
                return None
            if bounds.max_seconds is not None and clock() - self.t_start >= bounds.max_seconds:
                return None
            self.sent += 1
            return self.sent - 1

    def add(self, record):
        with self.lock:
            self.records.append(record)

    def result(self, slo, percentiles, attainment=0.9):
        """The run's metrics (metrics.summarize) and what defined it."""
        done = [r for r in self.records if r["ok"]]
        # vLLM's duration: from the start of the run to the end of its last request.
        end = max([r["start"] + r["latency"] for r in self.records] or [self.t_start])
        out = {"profile": self.profile, "concurrency": self.concurrency,
               "rate": round(self.rate, 4) if self.rate is not None else None,
               "level": self.level, "sequence": self.sequence}
        out.update(summarize(self.records, end - self.t_start, slo, percentiles))
        out["client_cpu_seconds"] = round(self.cpu, 4)
        out["client_cpu_ms_per_request"] = round(1000.0 * self.cpu / len(self.records), 4) if self.records else None
        # A load level meets the SLO when nothing failed and at least `attainment` of its
        # requests met every SLO target (without targets: when nothing failed).
        out["meets_slo"] = bool(done) and not out["failed"] and (
            out["good_requests"] is None or out["good_requests"] >= attainment * len(self.records))
        return out


class Runner(object):
    """Runs load profiles against one endpoint with one dataset."""

    def __init__(self, endpoint, dataset, bounds, max_concurrency=64, seed=0, warmup=1,
                 clock=time.perf_counter, sleep=time.sleep):
        self.endpoint = endpoint
        self.dataset = dataset
        self.bounds = bounds
        self.max_concurrency = max(1, int(max_concurrency))
        self.rng = random.Random(seed)
        self.warmup = warmup
        self.clock = clock
        self.sleep = sleep
        self.warmup_records = []

    def _warm(self):
        """Requests before the first run (not counted), as vLLM's initial test request: they open
        the path (DNS, proxy, TLS) and tell a dead endpoint from a slow one."""
        worker = Worker(self.endpoint, self.clock)
        try:
            for i in range(self.warmup):
                prompt, p, o = self.dataset[self.dataset.size - 1 - i]
                self.warmup_records.append(worker.send(prompt, p, o))
        finally:
            worker.close()

    def warm(self):
        """The warm-up requests, once."""
        if self.warmup and not self.warmup_records:
            self._warm()

    def level(self, kind, value=None):
        """One load level: ``synchronous``, ``concurrent`` (``value`` streams), ``throughput``
        (``max_concurrency`` streams), ``constant`` or ``poisson`` (``value`` requests/s)."""
        self.warm()
        if kind == "synchronous":
            return self.closed_loop(Run("synchronous", 1, None), 1)
        if kind == "concurrent":
            return self.closed_loop(Run("concurrent", value, None), value)
        if kind == "throughput":
            return self.closed_loop(Run("throughput", self.max_concurrency, None), self.max_concurrency)
        return self.open_loop(Run(kind, None, value), value, kind == "poisson")

    def closed_loop(self, run, streams):
        """``streams`` threads, each sending its next request as soon as its last one ended."""
        def stream():
            worker = Worker(self.endpoint, self.clock)
            try:
                while True:
                    index = run.take(self.bounds, self.clock)
                    if index is None:
                        return
                    prompt, p, o = self.dataset[index]
                    run.add(worker.send(prompt, p, o))
            finally:
                worker.close()
        cpu0 = time.process_time()
        run.t_start = self.clock()
        threads = [threading.Thread(target=stream, name="bench-%d" % i) for i in range(int(streams))]
        for t in threads:
            t.daemon = True
            t.start()
        for t in threads:
            t.join()
        run.t_end = self.clock()
        run.cpu = time.process_time() - cpu0
        return run

    def open_loop(self, run, rate, poisson):
        """Requests start on a schedule (``rate`` per second), whatever the answers' speed; at most
        ``max_concurrency`` in flight."""
        slots = threading.BoundedSemaphore(self.max_concurrency)
        free = []  # idle workers: kept-alive connections to reuse
        free_lock = threading.Lock()
        threads = []

        def one(index):
            with free_lock:
                worker = free.pop() if free else Worker(self.endpoint, self.clock)
            try:
                prompt, p, o = self.dataset[index]
                run.add(worker.send(prompt, p, o))
            finally:
                with free_lock:
                    free.append(worker)
                slots.release()

        cpu0 = time.process_time()
        run.t_start = self.clock()
        due = run.t_start
        while True:
            index = run.take(self.bounds, self.clock)
            if index is None:
                break
            if index:
                due += self.rng.expovariate(rate) if poisson else 1.0 / rate
            wait = due - self.clock()
            if self.bounds.max_seconds is not None and due - run.t_start >= self.bounds.max_seconds:
                with run.lock:
                    run.sent -= 1
                break
            if wait > 0:
                self.sleep(wait)
            slots.acquire()
            t = threading.Thread(target=one, args=(index,), name="bench-%d" % index)
            t.daemon = True
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        for worker in free:
            worker.close()
        run.t_end = self.clock()
        run.cpu = time.process_time() - cpu0
        return run


def sweep_rates(low, high, points):
    """GuideLLM's sweep rates after synchronous (``low`` requests/s) and throughput (``high``):
    ``numpy.linspace(low, high, points - 1)[1:]`` (the last equals ``high``); rates that are not
    positive are dropped, as GuideLLM stops at them (guidellm src/guidellm/benchmark/profiles/sweep.py)."""
    n = int(points) - 1
    if n < 2:
        return []
    step = (high - low) / (n - 1)
    rates = [low + step * i for i in range(1, n)]
    rates[-1] = high  # linspace's end point, exactly
    return [r for r in rates if r > 0]


def levels(profile, points=5):
    """How many load levels ``profile`` has."""
    return max(2, int(points or 5)) if profile == "sweep" else 1


def level_spec(profile, index, done, concurrency=None, rate=None, points=5, rate_kind="constant"):
    """(kind, value) of level ``index`` of ``profile`` for an endpoint whose runs so far are
    ``done`` (a sweep's rates come from its own synchronous and throughput levels); None when the
    endpoint has no such level (a sweep without a measured rate)."""
    if profile != "sweep":
        return {"synchronous": ("synchronous", None), "concurrent": ("concurrent", concurrency),
                "throughput": ("throughput", None)}.get(profile, (profile, rate))
    if index == 0:
        return ("synchronous", None)
    if index == 1:
        return ("throughput", None)
    low = done[0].result(None, ()).get("request_throughput") or 0.0
    high = done[1].result(None, ()).get("request_throughput") or 0.0
    rates = sweep_rates(low, high, points)
    if index - 2 >= len(rates):
        return None
    return (rate_kind or "constant", rates[index - 2])


def interleaved(runners, profile, concurrency=None, rate=None, points=5, rate_kind="constant"):
    """Run ``profile`` against every runner's endpoint, level by level: level 0 in the runners'
    order, level 1 in the reverse order, and so on (ABBA), one endpoint at a time. The warm-up
    requests of all come first, in order. Returns (per runner its runs in the order run, the
    sequence of (level, runner index) as run)."""
    for runner in runners:
        runner.warm()
    runs = [[] for dummy in runners]
    sequence = []
    for index in range(levels(profile, points)):
        order = list(range(len(runners)))
        if index % 2:
            order.reverse()
        for i in order:
            spec = level_spec(profile, index, runs[i], concurrency, rate, points, rate_kind)
            if spec is None:
                continue
            run = runners[i].level(*spec)
            run.sequence = len(sequence)
            run.level = index
            runs[i].append(run)
            sequence.append((index, i))
    return runs, sequence
