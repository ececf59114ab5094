"""The adaptive concurrency limit: a latency gradient against the no-load latency, on a
deterministic clock and a simulated server (no timed assertions)."""

import math

import pytest

from gameday_services.gateway.limiter import (
    CURRENT,
    DROP_BACKOFF,
    PROBE_DROP,
    PROBE_SHARE,
    START_LIMIT,
    WINDOW_MIN_SAMPLES,
    AdaptiveLimit,
    Outcome,
    allowed_latency,
    next_limit,
    note_fallback,
    note_shed_upstream,
)
from gameday_services.gateway.policy import AdmissionPolicy

# The algorithm's tests hold the tolerance at 2 (their settling points are worked out for
# it); test_the_default_tolerance_settles_where_its_formula_says runs the shipped default.
POLICY = AdmissionPolicy(adaptive_limit=True, limit_tolerance=2.0)
BASE_S = 0.025  # no-load latency of the simulated server
RATE = 400.0  # answers/s it gives when saturated
KNEE = BASE_S * RATE  # 10 requests in flight: below, latency stays BASE_S; above, it queues


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def server(base_s: float = BASE_S, rate: float = RATE):
    """Latency of a server that answers ``rate``/s at most: flat below the knee, then
    Little's law (in flight / rate)."""
    return lambda in_flight: max(base_s, in_flight / rate)


def simulate(limit: AdaptiveLimit, clock: Clock, seconds: float, offered: float,
             latency_of, policy: AdmissionPolicy = POLICY) -> list[tuple[float, float, int]]:
    """``offered`` clients, each sending again when answered (refused ones retry at once);
    returns (time, limit estimate, limit in force) after every answer."""
    trace = []
    end = clock.now + seconds
    while clock.now < end:
        while limit.in_flight < offered and limit.try_enter(policy):
            pass
        if limit.in_flight == 0:
            clock.now += policy.limit_window_s
            continue
        latency = latency_of(limit.in_flight)
        clock.now += latency / limit.in_flight  # answers come at in_flight / latency per s
        limit.leave(policy, latency)
        trace.append((clock.now, limit.limit, limit.current(policy)))
    return trace


def test_next_limit_is_a_smoothed_gradient_step_with_a_sqrt_queue_allowance():
    # no queue (recent at or under the allowed latency): grows by smoothing x sqrt(limit)
    assert next_limit(16, 0.02, 0.05, smoothing=0.2) == pytest.approx(16 + 0.2 * 4)
    # recent twice the allowed: gradient 0.5, new estimate 8 + 4, a fifth of the way there
    assert next_limit(16, 0.1, 0.05, smoothing=0.2) == pytest.approx(16 * 0.8 + 12 * 0.2)
    # far over: the gradient is clamped at 0.5 (one outlier window does not crash it)
    assert next_limit(16, 5.0, 0.05, smoothing=1.0) == pytest.approx(12)
    # the fixed point: gradient = 1 - 1/sqrt(limit)
    assert next_limit(16, 0.05 / 0.75, 0.05, smoothing=0.2) == pytest.approx(16)


def test_allowed_latency_is_tolerance_times_no_load_under_the_ceiling():
    assert allowed_latency(0.02, 2.0, 0.1) == pytest.approx(0.04)
    assert allowed_latency(0.08, 2.0, 0.1) == pytest.approx(0.1)  # the ceiling
    assert allowed_latency(0.3, 2.0, 0.1) == pytest.approx(0.3)  # never below no-load


def test_limit_refuses_beyond_its_value_and_gives_slots_back():
    clock = Clock()
    limit = AdaptiveLimit(clock)
    assert limit.current(POLICY) == START_LIMIT
    assert sum(limit.try_enter(POLICY) for _ in range(30)) == START_LIMIT
    limit.leave(POLICY, 0.01)
    assert limit.in_flight == START_LIMIT - 1 and limit.try_enter(POLICY)


def test_a_window_needs_its_time_and_its_samples():
    clock = Clock()
    limit = AdaptiveLimit(clock)
    for _ in range(WINDOW_MIN_SAMPLES - 1):  # the window's time is over, its samples not
        assert limit.try_enter(POLICY)
        clock.now += 0.1
        limit.leave(POLICY, 0.02)
    assert limit.no_load_s is None and limit.limit == START_LIMIT
    assert limit.try_enter(POLICY)
    limit.leave(POLICY, 0.02)
    assert limit.no_load_s == pytest.approx(0.02)


def test_steady_overload_holds_the_knee():
    """Clients far beyond capacity: the limit settles above the knee (full throughput) at
    about tolerance x the no-load latency, never below the knee, and sheds the rest."""
    clock = Clock()
    limit = AdaptiveLimit(clock)
    trace = simulate(limit, clock, 120.0, offered=1000, latency_of=server())
    late = [estimate for t, estimate, _ in trace if t > 30]
    assert min(late) >= KNEE
    # L / RATE = 2 x BASE_S / (1 - 1/sqrt(L)) => L - sqrt(L) = 20 => L = 25.6
    assert 20 <= sum(late) / len(late) <= 30
    assert limit.no_load_s == pytest.approx(BASE_S, rel=0.05)
    answered = [t for t, _, _ in trace if t > 30]  # probes included: full throughput
    assert len(answered) / (answered[-1] - answered[0]) >= 0.97 * RATE
    # probes (a quarter of the limit) take a small share of the time
    probing = [t for t, estimate, now in trace if t > 30 and now < estimate * 0.5]
    assert len(probing) / len(late) < 0.05


def test_a_limit_cut_low_recovers_when_latency_comes_back():
    """A stall (every answer takes a second) cuts the limit to a few requests (the queue
    allowance keeps it at about 4: 0.5 x L + sqrt(L) = L); once latency is back and the
    load is below capacity, the limit grows back until the load is admitted whole."""
    clock = Clock()
    limit = AdaptiveLimit(clock)
    simulate(limit, clock, 10.0, offered=1000, latency_of=server())
    simulate(limit, clock, 60.0, offered=1000, latency_of=lambda n: 1.0)  # a stall
    assert limit.limit < 6
    trace = simulate(limit, clock, 20.0, offered=KNEE, latency_of=server())
    admitted_all = [t for t, _, now in trace if now >= KNEE]
    assert admitted_all and admitted_all[0] - trace[0][0] < 10
    assert trace[-1][2] >= KNEE


def test_an_idle_limit_neither_grows_nor_shrinks():
    clock = Clock()
    limit = AdaptiveLimit(clock)
    simulate(limit, clock, 20.0, offered=3, latency_of=lambda n: 0.02)
    assert limit.limit == START_LIMIT
    simulate(limit, clock, 20.0, offered=3, latency_of=lambda n: 0.5)  # slow, but idle
    assert limit.limit == START_LIMIT


def test_the_probe_holds_a_quarter_of_the_limit_and_counts_only_its_own_requests():
    clock = Clock()
    limit = AdaptiveLimit(clock)
    simulate(limit, clock, 5.0, offered=1000, latency_of=server())
    assert not limit.probing  # the first probe (after the first window) is over
    while not limit.probing:  # the next one, limit_probe_interval_s later
        simulate(limit, clock, 0.001, offered=1000, latency_of=server())
    assert 30 < clock.now < 31  # limit_probe_interval_s after the first one
    held = limit.current(POLICY)
    assert held == int(limit.limit * PROBE_SHARE)
    before = limit.no_load_s
    while limit.in_flight:  # answers of requests admitted before the probe: ignored
        clock.now += 0.01
        limit.leave(POLICY, 1.0)
    assert limit.no_load_s == before and limit.probing
    simulate(limit, clock, 2.0, offered=1000, latency_of=lambda n: 0.05)
    assert not limit.probing and limit.no_load_s == pytest.approx(0.05)


def test_a_probe_without_answers_gives_up_after_eight_windows():
    """Answers slower than the probe can wait for (a stalled stack): after 8 windows'
    time the probe ends, seen by the next arrival, and the limit is back."""
    clock = Clock()
    limit = AdaptiveLimit(clock)
    simulate(limit, clock, 1.0, offered=1000, latency_of=server())
    while not limit.probing:
        simulate(limit, clock, 0.001, offered=1000, latency_of=server())
    held, full = limit.current(POLICY), int(limit.limit)
    assert held < full
    clock.now += 8 * POLICY.limit_window_s - 0.01  # nothing answered meanwhile
    assert not limit.try_enter(POLICY) or limit.in_flight <= held
    clock.now += 0.02
    limit.try_enter(POLICY)
    assert not limit.probing and limit.current(POLICY) == full


def test_a_limit_turned_on_during_an_overload_finds_the_stack_behind_the_backlog():
    """Turned on while a backlog of slow requests drains (the first seconds answer in a
    second whatever the limit): the probes repeat while the estimate moves, so the no-load
    latency is the stack's within seconds, not a probe interval later."""
    clock = Clock()
    limit = AdaptiveLimit(clock)
    backlog_until = 3.0
    normal = server()

    def draining(in_flight):
        return 1.0 if clock.now < backlog_until else normal(in_flight)

    trace = simulate(limit, clock, 20.0, offered=1000, latency_of=draining)
    assert limit.no_load_s == pytest.approx(BASE_S, rel=0.05)
    late = [estimate for t, estimate, _ in trace if t > 12]
    assert min(late) >= KNEE and max(late) <= 40


def test_a_slower_model_version_does_not_pin_a_stale_minimum():
    """The model gets 3x slower (same knee, a third of the throughput): against the old
    no-load latency the limit falls; once it has halved since the last probe, a probe
    measures the new no-load latency (seconds later, not a probe interval later) and the
    limit climbs back above the knee."""
    clock = Clock()
    limit = AdaptiveLimit(clock)
    simulate(limit, clock, 20.0, offered=1000, latency_of=server())
    before = limit.limit
    slow = server(BASE_S * 3, RATE / 3)
    trace = simulate(limit, clock, 12.0, offered=1000, latency_of=slow)
    assert min(estimate for _, estimate, _ in trace) <= PROBE_DROP * before + 1  # it bit
    assert limit.no_load_s == pytest.approx(BASE_S * 3, rel=0.05)  # within 12 s, not 30
    trace = simulate(limit, clock, 60.0, offered=1000, latency_of=slow)
    late = [estimate for t, estimate, _ in trace if t > trace[-1][0] - 20]
    assert min(late) >= KNEE


def test_latency_the_limit_cannot_cut_does_not_slide_it_below_the_knee():
    """At 4x the refusals' CPU adds the same wait to every admitted request whatever the
    limit (here 100 ms, four times the no-load latency). Cutting the limit does not bring
    latency back; once the limit has halved since the last probe, a probe measures the new
    floor and the limit climbs back, instead of sliding on to 4 (where the gradient's floor
    and the queue allowance meet) for 11 s, until the next 30 s probe, as it did in this
    simulation without the early probe."""
    clock = Clock()
    limit = AdaptiveLimit(clock)
    simulate(limit, clock, 20.0, offered=1000, latency_of=server())
    normal = server()
    start = clock.now
    trace = simulate(limit, clock, 25.0, offered=1000, latency_of=lambda n: normal(n) + 0.1)
    assert min(estimate for _, estimate, _ in trace) >= 0.9 * KNEE
    assert limit.no_load_s == pytest.approx(BASE_S + 0.1, rel=0.05)
    late = [estimate for t, estimate, _ in trace if t > start + 10]
    assert min(late) >= 1.5 * KNEE


def saturated_limit() -> tuple[AdaptiveLimit, Clock]:
    """A limit that has held a steady overload for 20 s (no-load measured, slow start over)."""
    clock = Clock()
    limit = AdaptiveLimit(clock)
    simulate(limit, clock, 20.0, offered=1000, latency_of=server())
    return limit, clock


def test_a_surge_meeting_a_limit_left_high_is_cut_within_a_second():
    """A quiet hour left the limit at 80 (eight times the knee; at 1x the bench saw it
    reach 80): the surge's first two heavy windows move smoothed steps (they could be a
    stall of the host), the third in a row takes the whole gradient step, so the limit is
    near the knee's steady value within four windows, not the 3.75 s smoothing alone took."""
    limit, clock = saturated_limit()
    steady = limit.limit
    limit.limit = 80.0
    start = clock.now
    trace = simulate(limit, clock, 5.0, offered=1000, latency_of=server())
    cut = next(t for t, estimate, _ in trace if estimate <= 1.25 * steady) - start
    assert cut <= 1.0
    late = [estimate for t, estimate, _ in trace if t > start + 2]
    assert min(late) >= KNEE and max(late) <= 1.25 * steady


def test_a_stall_of_the_host_moves_the_limit_smoothed_steps_only():
    """Every answer 10x slower for one window: the requests admitted during it finish in
    the next window too, two heavy windows, each a smoothed step."""
    limit, clock = saturated_limit()
    before = limit.limit
    normal = server()
    stall = clock.now + POLICY.limit_window_s  # one window's answers 10x slower
    trace = simulate(limit, clock, 1.0, offered=1000,
                     latency_of=lambda n: normal(n) * (10 if clock.now < stall else 1))
    lowest = min(estimate for _, estimate, _ in trace)
    # two smoothed steps at the gradient's floor, not a whole one (0.5 x 25 + 5 = 17.6)
    assert lowest >= next_limit(next_limit(before, 1.0, 0.05, 0.2), 1.0, 0.05, 0.2) - 1e-9
    assert trace[-1][1] > lowest  # and growing back


def test_max_in_flight_stays_the_ceiling():
    clock = Clock()
    limit = AdaptiveLimit(clock)
    capped = POLICY.model_copy(update={"max_in_flight": 8})
    assert limit.current(capped) == 8
    assert sum(limit.try_enter(capped) for _ in range(20)) == 8
    low = POLICY.model_copy(update={"max_in_flight": 1, "limit_min": 4})
    assert limit.current(low) == 1


def test_fast_answers_under_a_saturating_load_raise_the_limit_to_the_ceiling():
    clock = Clock()
    limit = AdaptiveLimit(clock)
    policy = POLICY.model_copy(update={"max_in_flight": 64})
    simulate(limit, clock, 60.0, offered=1000, latency_of=lambda n: 0.02, policy=policy)
    assert limit.current(policy) == 64 and math.isclose(limit.limit, 64)


def test_a_limit_turned_on_below_capacity_admits_the_load_within_a_few_windows():
    """40 clients on a server whose knee is 50 in flight: nothing needs shedding. The limit
    starts at 20, measures the no-load latency (a window, then a probe), then doubles while
    latency shows no queue, so the load is admitted whole after about a second instead of
    after twenty windows of sqrt growth; it stops growing at twice what the load uses."""
    clock = Clock()
    limit = AdaptiveLimit(clock)
    trace = simulate(limit, clock, 10.0, offered=40, latency_of=server(rate=2000))
    admitted_all = next(t for t, _, now in trace if now >= 40)
    assert admitted_all < 1.5
    assert all(now >= 40 for t, _, now in trace if t > admitted_all + 0.5)
    assert 40 <= limit.limit <= 2 * (40 + math.sqrt(80))
    assert limit.no_load_s == pytest.approx(BASE_S, rel=0.05)


def test_slow_start_ends_at_the_first_window_that_queues():
    """At a steady overload the doubling stops where latency first goes over the allowed
    value (here after one doubling: 20 in flight is twice the knee, latency just at the
    allowed 2 x no-load); from there the gradient holds the knee as without slow start."""
    clock = Clock()
    limit = AdaptiveLimit(clock)
    trace = simulate(limit, clock, 30.0, offered=1000, latency_of=server())
    assert max(estimate for _, estimate, _ in trace) <= 2 * START_LIMIT + math.sqrt(40)
    late = [estimate for t, estimate, _ in trace if t > 15]
    assert min(late) >= KNEE and sum(late) / len(late) <= 30


def bounded_upstream(queue: int, base_s: float = BASE_S, rate: float = RATE):
    """A server whose queue holds ``queue`` requests: past it, a call is shed at once (503).
    Returns (latency of, shed?) for a request admitted with ``in_flight`` in flight."""
    return lambda in_flight: (max(base_s, min(in_flight, queue) / rate), in_flight > queue)


def simulate_shedding_upstream(limit, clock, seconds, offered, queue, policy=POLICY):
    """As ``simulate``, against ``bounded_upstream``: a shed call is answered at once with
    a fallback and tells the limit so; returns the limits in force after every answer."""
    upstream = bounded_upstream(queue)
    trace = []
    end = clock.now + seconds
    while clock.now < end:
        while limit.in_flight < offered and limit.try_enter(policy):
            pass
        latency, shed = upstream(limit.in_flight)
        clock.now += latency / limit.in_flight
        outcome = Outcome()
        outcome.shed_upstream = outcome.fallback = shed
        limit.leave(policy, 0.001 if shed else latency, outcome)
        trace.append(limit.current(policy))
    return trace


def test_an_upstream_that_sheds_while_the_limit_binds_brings_the_limit_under_its_queue():
    """The classifiers' queues are bounded: a limit left above what they hold (a 1x run
    grew it) meets a surge with 503s answered at once. Each window with such a drop cuts
    the limit to DROP_BACKOFF of its peak in flight, until the upstream sheds no more; the
    fast fallbacks give no latency samples, so the limit does not grow on them."""
    clock = Clock()
    limit = AdaptiveLimit(clock)
    limit.limit = 160.0
    policy = AdmissionPolicy(adaptive_limit=True, max_in_flight=256)
    trace = simulate_shedding_upstream(limit, clock, 10.0, offered=1000, queue=100,
                                       policy=policy)
    assert trace[0] == 160
    assert max(trace[len(trace) // 2:]) <= 100  # under the queue after the first seconds
    assert min(trace[len(trace) // 2:]) >= KNEE  # and never below the knee
    assert not limit._slow_start  # a drop ends slow start for good


def test_a_drop_cuts_the_limit_only_when_the_limit_was_the_bound():
    """A feature store answering 503 to everything, with few requests in flight: the load,
    not the limit, set the concurrency, so the limit keeps its value."""
    clock = Clock()
    limit = AdaptiveLimit(clock)
    limit.limit = 80.0
    for _ in range(3 * WINDOW_MIN_SAMPLES):
        assert limit.try_enter(POLICY)
        clock.now += POLICY.limit_window_s / 5
        outcome = Outcome()
        outcome.shed_upstream = True
        limit.leave(POLICY, 0.002, outcome)
    assert limit.limit == 80.0
    # the same drops with the limit full: cut to DROP_BACKOFF of it
    for _ in range(80):
        assert limit.try_enter(POLICY)
    clock.now += POLICY.limit_window_s
    outcome = Outcome()
    outcome.shed_upstream = True
    limit.leave(POLICY, 0.002, outcome)
    assert limit.limit == pytest.approx(DROP_BACKOFF * 80)


def test_fallback_answers_give_no_latency_samples():
    """While a circuit is open every answer is a fast fallback: the limit must not read
    them as the model path's latency (it grew on them before)."""
    clock = Clock()
    limit = AdaptiveLimit(clock)
    for _ in range(10 * WINDOW_MIN_SAMPLES):
        assert limit.try_enter(POLICY)
        clock.now += 0.05
        outcome = Outcome()
        outcome.fallback = True
        limit.leave(POLICY, 0.0005, outcome)
    assert limit.no_load_s is None and limit.limit == START_LIMIT
    # the notes reach the request's outcome through the context the gateway sets
    outcome = Outcome()
    token = CURRENT.set(outcome)
    try:
        note_fallback()
        note_shed_upstream()
    finally:
        CURRENT.reset(token)
    assert outcome.fallback and outcome.shed_upstream
    note_fallback()  # outside a request: nothing to note, no error


DEFAULT = AdmissionPolicy(adaptive_limit=True)


def test_the_default_tolerance_settles_where_its_formula_says():
    """The shipped tolerance (4): a batching model server answers at full throughput in
    several times its no-load latency, so 2x read a busy stack as a queue and shed at 80%
    of capacity. At a steady overload the limit settles at L - sqrt(L) = 40 (L/RATE =
    4 x BASE_S / (1 - 1/sqrt(L)), the ceiling of 0.1 s not binding), above the knee."""
    assert DEFAULT.limit_tolerance == 4.0
    clock = Clock()
    limit = AdaptiveLimit(clock)
    trace = simulate(limit, clock, 120.0, offered=1000, latency_of=server(), policy=DEFAULT)
    late = [estimate for t, estimate, _ in trace if t > 30]
    assert min(late) >= KNEE and 42 <= sum(late) / len(late) <= 52
    answered = [t for t, _, _ in trace if t > 30]
    assert len(answered) / (answered[-1] - answered[0]) >= 0.97 * RATE


@pytest.mark.parametrize("exit_share, overshoots", [(None, False), (100.0, True)])
def test_slow_start_ends_at_a_small_queue_whatever_the_tolerance(monkeypatch, exit_share,
                                                                 overshoots):
    """The stack as measured: 19 ms no-load, 1,100 answers/s, two classifier queues of 64.
    Turned on cold in an overload at the default tolerance, slow start stops doubling at
    the first window over SLOW_START_EXIT x the no-load latency, and the gradient takes the
    limit on to where it settles (about 94) without ever passing the 128 the queues hold,
    whatever the limit it starts from. Doubling until 4x the no-load latency instead (the
    exit patched away) lands past them from some starting limits (one doubling from
    64-84 in flight, where latency is still within 4x): the replicas would answer 503 and
    open the gateway's circuit."""
    import gameday_services.gateway.limiter as limiter

    if exit_share is not None:
        monkeypatch.setattr(limiter, "SLOW_START_EXIT", exit_share)
    policy = AdmissionPolicy(adaptive_limit=True, max_in_flight=256)
    tops, settled = [], []
    for start in range(12, 44, 2):
        clock = Clock()
        limit = AdaptiveLimit(clock)
        limit.limit = float(start)
        trace = simulate(limit, clock, 20.0, offered=2000,
                         latency_of=server(base_s=0.019, rate=1100.0), policy=policy)
        tops.append(max(estimate for _, estimate, _ in trace))
        late = [estimate for t, estimate, _ in trace if t > 15]
        settled.append(sum(late) / len(late))
    assert any(top > 128 for top in tops) is overshoots, tops
    assert all(80 <= value <= 110 for value in settled), settled
