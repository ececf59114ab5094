"""Adaptive concurrency limit: a latency gradient against the no-load latency (Vegas-style).

Little's law: at a given throughput, requests in flight and latency move together. Below
the knee (the concurrency at which the stack is saturated) more requests in flight bring
more throughput at about the same latency; past it they only queue, and latency rises in
proportion. The limit looks for the knee from what the gateway sees of its own admitted
/v1/classify requests, in the way of Netflix's concurrency-limits ``GradientLimit`` /
``Gradient2Limit`` (gradient of a long-term against a short-term latency, queue allowance,
smoothing) and TCP Vegas / BBR (a minimum latency as the no-load estimate, re-probed):

- latency is sampled on every admitted request, from admission to the end of its answer;
- a window closes after ``limit_window_s`` and at least ``WINDOW_MIN_SAMPLES`` samples;
  its mean is the recent latency;
- the no-load latency is the lowest window mean seen (a window, not a single request: one
  lucky request is not the no-load latency of a batching model server);
- each window: ``gradient = clamp(allowed / recent, 0.5, 1)``, with
  ``allowed = max(no_load, min(limit_tolerance * no_load, limit_target_latency_s))``;
  ``new = limit * gradient + sqrt(limit)`` (the queue allowance); the limit moves a
  ``limit_smoothing`` share of the way to ``new``, or all the way from the
  ``HEAVY_WINDOWS``-th window in a row with the gradient at its floor (a mean at least
  twice the allowed): one or two such windows may be a stall of the host (the requests
  admitted during a stall finish in the next window too), three in a row are a surge
  meeting a limit left high, which smoothing would take seconds to bring down while every
  admitted request queues. At a steady overload it settles where
  ``recent = allowed / (1 - 1/sqrt(limit))``: a little above the knee, never below it,
  since below the knee latency stays near the no-load latency and the limit grows;
- a window whose peak of requests in flight stayed below ``limit - sqrt(limit)`` changes
  nothing (GradientLimit's "app-limited" rule: the load, not the limit, set the
  concurrency, so the limit neither learns from an idle gateway nor grows far above what
  the load used, which would let the next surge in before it shrinks back);
- right after the first window, then every ``limit_probe_interval_s``, the minimum is
  probed: for at least one window the limit is held at a quarter of its value so queues
  drain, and the mean latency of the requests admitted during the probe replaces the
  no-load estimate (it may rise: a slower model version does not keep a stale minimum that
  would pin the limit to its floor). A probe that moved the estimate by more than
  ``PROBE_SETTLED`` either way is repeated ``PROBE_SOON_WINDOWS`` windows later (up to
  ``PROBE_SOON_MAX`` times in a row): a limit turned on in the middle of an overload first
  measures a backlog, then the backlog draining, then the stack. A probe without
  ``WINDOW_MIN_SAMPLES`` answers after ``PROBE_MAX_WINDOWS`` windows' time gives up (the
  next arrival ends it) and counts as unsettled. A limit that has fallen to
  ``PROBE_DROP`` (half) of its value when the last probe ended is probed at once: when
  something other than the gateway's own queue slows every request (the CPU the refusals
  take at 4x, a slower upstream), cutting the limit does not bring latency back, and
  against the old no-load latency the limit would slide to its floor for a whole probe
  interval;
- slow start: once a probe has settled the no-load estimate (a backlog draining keeps it
  moving) and until the first window whose mean is over the allowed latency or over
  ``SLOW_START_EXIT`` (1.5) times the no-load latency, whichever is lower, a window where
  the limit was the bound doubles it (TCP's slow start; BBR's startup): a limit turned on
  below capacity reaches the load within a few windows instead of growing by
  ``smoothing * sqrt(limit)`` a window, which at 80% of capacity shed about a tenth of the
  first ten seconds (bench/README.md, section 3). Turned on in an overload, the first
  window after the probe queues and the gradient takes over at once. The exit at 1.5x
  (HyStart's idea: leave slow start at the first rise of the delay, not at the loss)
  matters at a loose tolerance: doubling until 4x the no-load latency took the limit from
  84 to 167 to 233 in three windows, past the 128 requests the two classifiers queue, and
  one cold turn-on in four at 1.6x served fallbacks for the rest of the run;
- an upstream that sheds (answers 429 or 503 to an admitted request's call) while the
  limit was the bound is a drop, as a lost packet is to TCP and ``onDropped`` to Netflix's
  limits: the window closes at once and the limit falls to ``DROP_BACKOFF`` of the lower
  of itself and the window's peak in flight, and slow start ends. Latency alone does not
  see it: the classifiers' queues are bounded (64 each), and past them a replica answers
  503 at once, which opens the gateway's circuit, after which every answer is a fast
  fallback. With a gateway fast enough to admit more than the two queues hold, a limit
  left high by a 1x run (167) met a 2x surge that way and served fallbacks for the whole
  10 s (bench/README.md, section 3). An upstream that fails without the limit being the
  bound (a feature store answering 503 to everything, a replica loading its model) sets
  the concurrency by itself and teaches the limit nothing;
- a request answered with a fallback (the model was not reached) or whose call was shed
  gives no latency sample: a fallback's latency says nothing about the model path's queue,
  and a limit that learnt from fast fallbacks grew while the circuit was open;
- the limit stays between ``limit_min`` and ``max_in_flight`` (the hard ceiling).
"""

from __future__ import annotations

import math
import time
from contextvars import ContextVar

from gameday_services.gateway.policy import AdmissionPolicy
from gameday_services.gateway.window import Clock

START_LIMIT = 20  # Netflix concurrency-limits' initial limit
GRADIENT_MIN = 0.5  # at most halve the estimate in one window (outliers)
WINDOW_MIN_SAMPLES = 10  # Netflix WindowedLimit's window size
PROBE_SHARE = 0.25  # the limit held during a probe of the no-load latency
PROBE_MAX_WINDOWS = 8  # a probe without enough answers after this many windows' time
# gives up (an idle gateway, or answers slower than the probe can wait for)
PROBE_SETTLED = 2.0  # a probe within this factor of the estimate before it: settled
PROBE_SOON_WINDOWS = 8  # an unsettled probe is repeated after this many windows,
PROBE_SOON_MAX = 4  # at most this many times in a row
PROBE_DROP = 0.5  # the limit at this share of its value after the last probe: probe again
HEAVY_WINDOWS = 3  # windows in a row with the gradient at its floor: a surge, not a stall
DROP_BACKOFF = 0.8  # an upstream shed while the limit was the bound: this share of it
SLOW_START_EXIT = 1.5  # slow start ends at a window mean this many times the no-load one


class Outcome:
    """What one admitted request tells the limit besides its latency, noted while it runs
    (``note_shed_upstream``, ``note_fallback``) by the code that calls the upstreams."""

    __slots__ = ("shed_upstream", "fallback")

    def __init__(self) -> None:
        self.shed_upstream = False  # an upstream answered 429 or 503
        self.fallback = False  # answered without the model


CURRENT: ContextVar[Outcome | None] = ContextVar("gateway_limit_outcome", default=None)


def note_shed_upstream() -> None:
    """The current request's upstream call was shed (429 or 503)."""
    outcome = CURRENT.get()
    if outcome is not None:
        outcome.shed_upstream = True


def note_fallback() -> None:
    """The current request is answered with a fallback, not by the model."""
    outcome = CURRENT.get()
    if outcome is not None:
        outcome.fallback = True


def allowed_latency(no_load_s: float, tolerance: float, ceiling_s: float) -> float:
    """The window mean the limit accepts as "no queue": tolerance x no-load, at most the
    ceiling, never below the no-load latency itself."""
    return max(no_load_s, min(tolerance * no_load_s, ceiling_s))


def next_limit(limit: float, recent_s: float, allowed_s: float, smoothing: float) -> float:
    """The limit after one window: the gradient step, smoothed."""
    gradient = max(GRADIENT_MIN, min(1.0, allowed_s / recent_s)) if recent_s > 0 else 1.0
    estimate = limit * gradient + math.sqrt(limit)
    return limit * (1 - smoothing) + estimate * smoothing


class AdaptiveLimit:
    """Requests in flight against a limit that follows observed latency."""

    def __init__(self, clock: Clock = time.perf_counter) -> None:
        self.clock = clock
        self.limit = float(START_LIMIT)
        self.in_flight = 0
        self.no_load_s: float | None = None
        self.recent_s: float | None = None
        self._sum = 0.0
        self._count = 0
        self._peak = 0
        self._window_start = clock()
        self._next_probe: float | None = None  # set when the first window closes
        self._probe_start: float | None = None
        self._probe_after = 0.0  # the first window is followed by a probe at once
        self._soon = 0
        self._probed = False  # a probe has settled the no-load latency (not a backlog's)
        self._limit_at_probe: float | None = None  # the limit when the last probe ended
        self._heavy = 0  # windows in a row whose mean was at least twice the allowed
        self._slow_start = True  # until the first window that queues after that probe
        self._dropped = False  # an upstream shed a call of this window

    @property
    def probing(self) -> bool:
        return self._probe_start is not None

    def current(self, policy: AdmissionPolicy) -> int:
        """The limit as it applies now, within [limit_min, max_in_flight]."""
        floor = min(policy.limit_min, policy.max_in_flight)
        value = self.limit * PROBE_SHARE if self.probing else self.limit
        return max(floor, min(policy.max_in_flight, int(value)))

    def is_full(self, policy: AdmissionPolicy) -> bool:
        """No room under the limit now: ``try_enter`` would refuse (so a request can be
        refused before its body is read). A probe past its time is given up first."""
        if self._probe_start is not None:
            now = self.clock()
            if now - self._probe_start >= PROBE_MAX_WINDOWS * policy.limit_window_s:
                self._finish_probe(policy, now, measured=None)
        return self.in_flight >= self.current(policy)

    def try_enter(self, policy: AdmissionPolicy) -> bool:
        if self.is_full(policy):
            return False
        self.in_flight += 1
        if self.in_flight > self._peak:
            self._peak = self.in_flight
        return True

    def leave(self, policy: AdmissionPolicy, latency_s: float,
              outcome: Outcome | None = None) -> None:
        """One admitted request done after ``latency_s``; closes the window when due.
        ``outcome``: a shed upstream call is a drop, and a shed or fallback answer gives no
        latency sample."""
        self.in_flight = max(0, self.in_flight - 1)
        now = self.clock()
        sampled = outcome is None or not (outcome.shed_upstream or outcome.fallback)
        if outcome is not None and outcome.shed_upstream:
            self._dropped = True
        # During a probe only requests admitted after it began count: the others queued
        # behind the limit it lowered.
        if sampled and (self._probe_start is None or now - latency_s >= self._probe_start):
            self._sum += latency_s
            self._count += 1
        if now - self._window_start >= policy.limit_window_s:
            if self.probing:
                self._end_probe_window(policy, now)
            elif self._count >= WINDOW_MIN_SAMPLES or self._dropped:
                self._adjust(policy, now)

    def _reset_window(self, now: float) -> None:
        self._sum, self._count = 0.0, 0
        self._peak = self.in_flight
        self._window_start = now
        self._dropped = False

    def _adjust(self, policy: AdmissionPolicy, now: float) -> None:
        bound = self._peak + math.sqrt(self.limit) >= self.limit  # the limit was the bound
        floor = min(policy.limit_min, policy.max_in_flight)
        if self._dropped and bound:
            self.limit = max(float(floor), DROP_BACKOFF * min(self.limit, float(self._peak)))
            self._slow_start = False
            self._heavy = 0
            self.recent_s = self._sum / self._count if self._count else self.recent_s
            self._reset_window(now)
            return
        if self._count < WINDOW_MIN_SAMPLES:  # a drop the load set, and too few samples
            self._reset_window(now)
            return
        recent = self._sum / self._count
        self.recent_s = recent
        if self.no_load_s is None or recent < self.no_load_s:
            self.no_load_s = recent
        if self._next_probe is None:
            self._next_probe = now + self._probe_after
        if bound:
            allowed = allowed_latency(self.no_load_s, policy.limit_tolerance,
                                      policy.limit_target_latency_s)
            if self._slow_start and self._probed:  # the first queue ends it for good
                self._slow_start = recent <= min(allowed, SLOW_START_EXIT * self.no_load_s)
            heavy = recent * GRADIENT_MIN >= allowed  # the gradient at its floor
            self._heavy = self._heavy + 1 if heavy else 0
            if self._slow_start and self._probed:
                limit = 2 * self.limit  # no queue yet: double, as TCP's slow start does
            else:  # heavy windows in a row are a surge, not an outlier: the whole step
                smoothing = 1.0 if self._heavy >= HEAVY_WINDOWS else policy.limit_smoothing
                limit = next_limit(self.limit, recent, allowed, smoothing)
            self.limit = max(float(floor), min(float(policy.max_in_flight), limit))
        self._reset_window(now)
        dropped = (self._limit_at_probe is not None
                   and self.limit <= PROBE_DROP * self._limit_at_probe)
        if now >= self._next_probe or dropped:
            self._probe_start = now

    def _end_probe_window(self, policy: AdmissionPolicy, now: float) -> None:
        if self._count >= WINDOW_MIN_SAMPLES:
            self._finish_probe(policy, now, measured=self._sum / self._count)
        elif now - self._probe_start >= PROBE_MAX_WINDOWS * policy.limit_window_s:
            self._finish_probe(policy, now, measured=None)
        # else: keep collecting, the probe goes on until it has enough samples

    def _finish_probe(self, policy: AdmissionPolicy, now: float,
                      measured: float | None) -> None:
        """End the probe; ``measured`` (None: given up) is the new no-load estimate."""
        settled = False  # given up: not settled either, try again soon
        if measured is not None:
            before = self.no_load_s or measured
            settled = 1 / PROBE_SETTLED <= measured / before <= PROBE_SETTLED
            self.no_load_s = measured
        if settled or self._soon >= PROBE_SOON_MAX:
            self._probe_after, self._soon = policy.limit_probe_interval_s, 0
        else:  # the estimate moved a lot (a queue drained?): look again soon
            self._probe_after = PROBE_SOON_WINDOWS * policy.limit_window_s
            self._soon += 1
        self._probe_start = None
        self._limit_at_probe = self.limit
        self._heavy = 0
        self._probed = self._probed or settled
        self._next_probe = None  # the next window schedules the next probe
        self._reset_window(now)
