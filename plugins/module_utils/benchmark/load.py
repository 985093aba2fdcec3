# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load profiles, named as GuideLLM names them, run by threads in this one process.

- ``synchronous``: one request at a time.
- ``concurrent``: ``concurrency`` streams, each sending its next request when the last ends.
- ``constant``: requests start at ``rate`` per second, evenly spaced.
- ``poisson``: requests start at ``rate`` per second on average, exponential gaps (seeded).
- ``sweep``: synchronous, then throughput (``max_concurrency`` streams: the measured maximum),
  then ``sweep_points - 2`` constant (or Poisson) rates evenly spaced between the two measured
  request rates, as GuideLLM's sweep profile does.
Every run stops sending at ``max_requests`` requests or ``max_seconds`` seconds, whichever comes
first; requests already sent finish (each bounded by the request timeout). A rate profile's
requests wait on the client when ``max_concurrency`` are in flight (as ``vllm bench serve
--max-concurrency``); the wait is not in their TTFT, which starts when a request is sent.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import threading
import time

from ansible_collections.private_ai.llm_serving.plugins.module_utils.benchmark.client import Worker
from ansible_collections.private_ai.llm_serving.plugins.module_utils.benchmark.metrics import summarize

PROFILES = ("synchronous", "concurrent", "constant", "poisson", "sweep")


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
               "rate": round(self.rate, 4) if self.rate is not None else None}
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

    def run(self, profile, concurrency=None, rate=None):
        """All runs of ``profile`` (one, or several for a sweep), in order."""
        if self.warmup and not self.warmup_records:
            self._warm()
        if profile == "synchronous":
            return [self.closed_loop(Run("synchronous", 1, None), 1)]
        if profile == "concurrent":
            return [self.closed_loop(Run("concurrent", concurrency, None), concurrency)]
        if profile in ("constant", "poisson"):
            return [self.open_loop(Run(profile, None, rate), rate, profile == "poisson")]
        return self.sweep(concurrency, rate)

    def sweep(self, points, rate_kind="constant"):
        """Synchronous, throughput, then ``points - 2`` rates between the two measured rates."""
        points = max(2, int(points or 5))
        if self.warmup and not self.warmup_records:
            self._warm()
        sync = self.closed_loop(Run("synchronous", 1, None), 1)
        peak = self.closed_loop(Run("throughput", self.max_concurrency, None), self.max_concurrency)
        runs = [sync]
        low = sync.result(None, ()).get("request_throughput") or 0.0
        high = peak.result(None, ()).get("request_throughput") or 0.0
        if high > low > 0:
            step = (high - low) / (points - 1)
            for i in range(1, points - 1):
                rate = low + step * i
                runs.append(self.open_loop(Run(rate_kind or "constant", None, rate), rate, rate_kind == "poisson"))
        runs.append(peak)
        return runs

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
