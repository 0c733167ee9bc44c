"""The watched-interval ledger on its own: pure functions, no database, no mocks.

Includes two cross-checks against brute force on seeded random data: merging with only the
touching intervals gives the same record as merging with the whole list (what the SQL store
relies on), and the retention difference array equals counting every midpoint directly.
"""

from __future__ import annotations

import random

import pytest

from progress import ledger
from progress.ledger import Heartbeat, LedgerState, Policy, SessionMark

POLICY = Policy()


@pytest.mark.parametrize(
    ("intervals", "expected"),
    [
        ([], []),
        ([(5, 6), (0, 1)], [(0, 1), (5, 6)]),
        ([(0, 2), (1, 3)], [(0, 3)]),
        ([(0, 2), (2, 3)], [(0, 3)]),  # touching intervals merge
        ([(0, 10), (2, 3)], [(0, 10)]),
        ([(4, 4), (1, 0.5)], []),  # empty and reversed pieces vanish
    ],
)
def test_union(intervals, expected):
    assert ledger.union(intervals) == expected


def test_normalise_clamps_rounds_and_merges():
    ranges = [(-3, 2), (1.00049, 5), (95, 130), (200, 300)]
    assert ledger.normalise(ranges, 100) == [(0.0, 5.0), (95.0, 100.0)]
    assert ledger.normalise([(1.23456, 2.98765)], 10) == [(1.235, 2.988)]


@pytest.mark.parametrize(
    ("ranges", "existing", "expected"),
    [
        ([(0, 10)], [], [(0, 10)]),
        ([(0, 10)], [(0, 10)], []),
        ([(0, 10)], [(2, 3), (5, 6)], [(0, 2), (3, 5), (6, 10)]),
        ([(0, 4), (8, 12)], [(3, 9)], [(0, 3), (9, 12)]),
        ([(5, 6)], [(0, 1), (10, 11)], [(5, 6)]),
        ([(0, 10)], [(-5, 2), (9, 20)], [(2, 9)]),
    ],
)
def test_subtract(ranges, existing, expected):
    assert ledger.subtract(ranges, existing) == expected


def test_take_keeps_the_earliest_seconds_within_budget():
    assert ledger.take([(0, 5), (10, 20)], 8) == ([(0, 5), (10, 13)], 7.0)
    assert ledger.take([(0, 5)], 0) == ([], 5.0)
    assert ledger.take([(0, 5)], 100) == ([(0, 5)], 0.0)


def test_touching_selects_only_what_a_merge_can_change():
    existing = [(0, 1), (2, 3), (5, 6), (9, 10)]
    assert ledger.touching(existing, [(3, 5)]) == [(2, 3), (5, 6)]
    assert ledger.touching(existing, [(7, 8)]) == []


def test_policy_required_seconds_uses_the_end_tolerance_when_smaller():
    policy = Policy(completion_ratio=0.9, end_seconds=10)
    assert policy.required_seconds(300) == 270  # 0.9 of it
    assert policy.required_seconds(40) == 30  # everything but the last 10 s
    assert policy.required_seconds(8) == pytest.approx(7.2)  # shorter than the tolerance
    assert Policy(completion_ratio=1.0, end_seconds=5).required_seconds(600) == 595


def test_policy_allowance_and_positions():
    policy = Policy(max_playback_rate=2, rate_slack_seconds=10, resume_min_seconds=5)
    assert policy.allowance(None) == 10
    assert policy.allowance(30) == 70
    assert policy.allowance(-5) == 10  # a clock step backwards grants nothing extra
    assert policy.next_position(120, 0) == 120
    assert policy.next_position(120, 4.9) == 120
    assert policy.next_position(120, 5) == 5
    assert policy.next_position(3, 0) == 0  # no real progress yet
    assert policy.is_near_end(91, 100) and not policy.is_near_end(89, 100)


def marks(*items):
    return tuple(SessionMark(id=i, hw=hw, mask=mask, at=at) for i, hw, mask, at in items)


def test_admit_new_session_then_in_order():
    first = ledger.admit((), "a", 3, now=100.0)
    assert (first.fresh, first.newest, first.elapsed) == (True, True, None)
    second = ledger.admit(first.sessions, "a", 4, now=130.0)
    assert (second.fresh, second.newest, second.elapsed) == (True, True, 30.0)
    assert second.sessions == marks(("a", 4, 0b1, 130.0))


def test_admit_duplicates_out_of_order_and_too_old():
    sessions = marks(("a", 10, 0b0, 100.0))  # 10 applied, 9 and below not
    assert ledger.admit(sessions, "a", 10, now=101.0).fresh is False
    late = ledger.admit(sessions, "a", 8, now=101.0)
    assert (late.fresh, late.newest) == (True, False)
    assert late.sessions[0].mask == 0b10  # bit 1: seq 10 - 1 - 1 = 8
    assert ledger.admit(late.sessions, "a", 8, now=102.0).fresh is False
    too_old = ledger.admit(sessions, "a", 10 - 1 - ledger.SEQ_WINDOW, now=103.0)
    assert too_old.fresh is False
    oldest_kept = ledger.admit(sessions, "a", 10 - ledger.SEQ_WINDOW, now=103.0)
    assert oldest_kept.fresh is True


def test_admit_jump_ahead_shifts_the_window():
    sessions = marks(("a", 5, 0b1, 0.0))  # 5 and 4 applied
    jumped = ledger.admit(sessions, "a", 8, now=1.0)
    mark = jumped.sessions[0]
    assert mark.hw == 8
    # Applied below 8: 5 (bit 2) and 4 (bit 3); 7 and 6 were skipped and may still come.
    assert mark.mask == 0b1100
    assert ledger.admit(jumped.sessions, "a", 7, now=2.0).fresh is True
    assert ledger.admit(jumped.sessions, "a", 5, now=2.0).fresh is False
    far = ledger.admit(sessions, "a", 5 + ledger.SEQ_WINDOW + 3, now=3.0)
    assert far.sessions[0].mask == 0


def test_admit_forgets_the_least_recently_used_session():
    sessions = ()
    for index in range(ledger.MAX_SESSIONS + 1):
        sessions = ledger.admit(sessions, f"s{index}", 0, now=float(index)).sessions
    assert len(sessions) == ledger.MAX_SESSIONS
    assert "s0" not in {mark.id for mark in sessions}


def test_sessions_round_trip_through_plain_data():
    sessions = marks(("a", 4, 0b101, 12.5), ("b", 0, 0, 13.0))
    assert ledger.sessions_from(ledger.sessions_as_list(sessions)) == sessions


def test_apply_heartbeat_trims_to_the_allowance():
    state = LedgerState()
    result = ledger.apply_heartbeat(
        state,
        Heartbeat(session="a", seq=0, position=50, ranges=((0, 50),)),
        duration=100,
        now=0.0,
        policy=POLICY,
    )
    assert result.intervals == ((0.0, 10.0),)
    assert (result.added_seconds, result.trimmed_seconds) == (10.0, 40.0)
    assert result.position == 50.0


def test_apply_heartbeat_replay_is_a_no_op():
    state = LedgerState(
        intervals=((0.0, 10.0),),
        watched_seconds=10.0,
        position=10.0,
        sessions=marks(("a", 2, 0, 5.0)),
    )
    result = ledger.apply_heartbeat(
        state,
        Heartbeat(session="a", seq=2, position=90, ranges=((10, 90),)),
        duration=100,
        now=50.0,
        policy=POLICY,
    )
    assert result.applied is False
    assert (result.intervals, result.position, result.sessions) == (
        state.intervals,
        10.0,
        state.sessions,
    )


def test_seeking_to_the_end_does_not_complete():
    result = ledger.apply_heartbeat(
        LedgerState(),
        Heartbeat(session="a", seq=0, position=95, ranges=()),
        duration=100,
        now=0.0,
        policy=POLICY,
    )
    assert result.completed is False
    assert result.position == 95.0


def _random_intervals(rng: random.Random, duration: float, count: int):
    points = sorted(round(rng.uniform(0, duration), 3) for _ in range(2 * count))
    return ledger.union(zip(points[0::2], points[1::2], strict=True))


def test_merging_with_touching_intervals_only_equals_merging_with_all():
    rng = random.Random(20260301)
    policy = Policy(rate_slack_seconds=60)
    for _ in range(300):
        duration = 600.0
        existing = _random_intervals(rng, duration, rng.randint(0, 40))
        ranges = tuple(
            sorted(
                (a, b)
                for a, b in (
                    sorted((round(rng.uniform(-5, 610), 3), round(rng.uniform(-5, 610), 3)))
                    for _ in range(rng.randint(0, 6))
                )
            )
        )
        heartbeat = Heartbeat(session="s", seq=1, position=1.0, ranges=ranges)
        watched = ledger.measure(existing)
        full = ledger.apply_heartbeat(
            LedgerState(intervals=tuple(existing), watched_seconds=watched),
            heartbeat,
            duration=duration,
            now=0.0,
            policy=policy,
        )
        near = ledger.touching(existing, ledger.normalise(ranges, duration))
        partial = ledger.apply_heartbeat(
            LedgerState(intervals=tuple(near), watched_seconds=watched),
            heartbeat,
            duration=duration,
            now=0.0,
            policy=policy,
        )
        untouched = [interval for interval in existing if interval not in near]
        rebuilt = ledger.union([*untouched, *partial.intervals])
        assert rebuilt == list(full.intervals)
        assert partial.watched_seconds == pytest.approx(full.watched_seconds, abs=1e-6)
        assert full.watched_seconds == pytest.approx(ledger.measure(full.intervals), abs=1e-3)
        assert full.added_seconds <= 60 + 1e-9


def test_retention_difference_array_matches_direct_counting():
    rng = random.Random(7)
    size = ledger.BUCKET_SECONDS
    for duration in (4.0, 5.0, 23.0, 100.0, 101.5):
        learners = [_random_intervals(rng, duration, rng.randint(0, 6)) for _ in range(30)]
        firsts: dict[int, int] = {}
        ends: dict[int, int] = {}
        for intervals in learners:
            for start, end in intervals:
                first = ledger.first_bucket_at_or_after(start)
                past = ledger.first_bucket_at_or_after(end)
                firsts[first] = firsts.get(first, 0) + 1
                ends[past] = ends.get(past, 0) + 1
        count = ledger.bucket_count(duration)
        midpoints = [index * size + size / 2 for index in range(count - 1)]
        midpoints.append(ledger.last_bucket_midpoint(duration))
        direct = [
            sum(any(s <= m < e for s, e in intervals) for intervals in learners) for m in midpoints
        ]
        computed = ledger.retention_from_edges(
            duration=duration,
            first_buckets=firsts,
            end_buckets=ends,
            last_bucket_viewers=direct[-1],
        )
        assert computed == direct
