# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark's requests: generated from a seed, nothing downloaded.

A length is either an integer (every request the same) or a distribution, a dict with
``distribution`` (``fixed``, ``uniform``, ``normal`` or ``exponential``) and ``mean`` / ``min`` /
``max`` / ``stddev``. Prompts are words of a small vocabulary, one word per token: exact on the
lab's simulator (it counts whitespace-separated words), an approximation on a real tokenizer
(English words are 1-1.5 tokens); the server's ``usage.prompt_tokens`` is what the results report.
Each prompt starts with its own words so that no two share a prefix (prefix caching would
otherwise make later requests cheaper than the first).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import ModuleError

VOCABULARY = (
    "cluster model serving token latency throughput gpu memory batch queue request stream answer "
    "prompt kernel tensor weight cache node route service scale quota budget report measure "
    "explain describe compare summarise list plan deploy verify observe record"
).split()

DISTRIBUTIONS = ("fixed", "uniform", "normal", "exponential")


class LengthSpec(object):
    """A token count to draw: fixed, or from a distribution clipped to [min, max]."""

    def __init__(self, spec, what):
        if isinstance(spec, bool):
            raise ModuleError("%s must be a positive integer or a dict with distribution; got %r." % (what, spec))
        if isinstance(spec, int):
            spec = {"distribution": "fixed", "mean": spec}
        if not isinstance(spec, dict):
            raise ModuleError("%s must be a positive integer or a dict with distribution and mean; got %r."
                              % (what, spec))
        unknown = sorted(set(spec) - {"distribution", "mean", "min", "max", "stddev"})
        if unknown:
            raise ModuleError("%s has unknown key(s) %s; use distribution, mean, min, max, stddev."
                              % (what, ", ".join(unknown)))
        self.kind = spec.get("distribution", "fixed")
        if self.kind not in DISTRIBUTIONS:
            raise ModuleError("%s.distribution must be one of %s; got %r." % (what, ", ".join(DISTRIBUTIONS), self.kind))
        try:
            self.mean = float(spec.get("mean", 0))
            self.low = int(spec.get("min", 1))
            self.high = int(spec.get("max", max(1, int(round(self.mean * 2)))))
            self.stddev = float(spec.get("stddev", self.mean / 4.0))
        except (TypeError, ValueError):
            raise ModuleError("%s: mean, min, max and stddev must be numbers; got %r." % (what, spec))
        if self.kind == "uniform" and "mean" not in spec:
            self.mean = (self.low + self.high) / 2.0
        if self.mean < 1 or self.low < 1 or self.high < self.low or self.stddev < 0:
            raise ModuleError("%s needs 1 <= min <= mean <= max and stddev >= 0; got %r (set mean to "
                              "at least 1 token)." % (what, spec))
        if self.kind != "fixed" and not self.low <= self.mean <= self.high:
            raise ModuleError("%s: mean %g is outside [min %d, max %d]." % (what, self.mean, self.low, self.high))

    def draw(self, rng):
        if self.kind == "fixed":
            return int(round(self.mean))
        if self.kind == "uniform":
            value = rng.uniform(self.low, self.high)
        elif self.kind == "normal":
            value = rng.gauss(self.mean, self.stddev)
        else:
            value = rng.expovariate(1.0 / self.mean)
        return int(min(self.high, max(self.low, round(value))))

    def describe(self):
        if self.kind == "fixed":
            return {"distribution": "fixed", "mean": int(round(self.mean))}
        return {"distribution": self.kind, "mean": self.mean, "min": self.low, "max": self.high,
                "stddev": self.stddev}


def make_prompt(rng, index, tokens):
    """``tokens`` words: the request index first (unique prefix), then seeded vocabulary."""
    words = ["request-%d" % index]
    words.extend(rng.choice(VOCABULARY) for dummy in range(tokens - 1))
    return " ".join(words[:tokens])


class Dataset(object):
    """Deterministic for a seed: request ``i`` is the same in every run and every load profile."""

    def __init__(self, prompt_tokens, output_tokens, seed=0, size=1000):
        self.prompt = LengthSpec(prompt_tokens, "prompt_tokens")
        self.output = LengthSpec(output_tokens, "output_tokens")
        self.seed = seed
        self.size = max(1, int(size))
        # one stream each: the prompts do not change when only the output lengths do
        rng_p, rng_o, rng_w = (random.Random("%s-%s" % (seed, k)) for k in ("prompt", "output", "words"))
        self.items = []
        for i in range(self.size):
            p = self.prompt.draw(rng_p)
            self.items.append((make_prompt(rng_w, i, p), p, self.output.draw(rng_o)))

    def __getitem__(self, index):
        """(prompt text, prompt tokens, output tokens) of request ``index`` (cycling)."""
        return self.items[index % self.size]

    def describe(self):
        return {"prompt_tokens": self.prompt.describe(), "output_tokens": self.output.describe(),
                "seed": self.seed, "size": self.size}
