"""The watched-interval ledger: pure functions shared by both progress stores.

Nothing here touches a database, the clock or settings: a store loads a `LedgerState`, calls
`apply_heartbeat` with the time and a `Policy`, and writes back what it returns. The SQL store
passes only the stored intervals that touch the heartbeat's ranges (the result replaces exactly
those); the MongoDB store passes the whole list. Both give the same answer because a heartbeat
can only change intervals its ranges touch.

Media time is in seconds, rounded to milliseconds. Intervals are half-open `[start, end)`, sorted,
disjoint and never touching (touching intervals are merged).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

Interval = tuple[float, float]

# Media seconds are kept to the millisecond.
DIGITS = 3
# Sequence numbers remembered per session below the highest one (as a bitmask).
SEQ_WINDOW = 32
# Playback sessions remembered per (learner, lesson); the least recently used is forgotten.
MAX_SESSIONS = 8
# Width of the retention curve's buckets, in seconds.
BUCKET_SECONDS = 5
_EPSILON = 1e-6


def _round(value: float) -> float:
    return round(float(value), DIGITS)


@dataclass(frozen=True)
class Policy:
    """The rules a heartbeat is judged by (read from the PROGRESS_* settings by the services)."""

    completion_ratio: float = 0.9
    max_playback_rate: float = 2.0
    rate_slack_seconds: float = 10.0
    resume_min_seconds: float = 5.0
    end_seconds: float = 10.0

    def required_seconds(self, duration: float) -> float:
        """Watched seconds that complete a video: `completion_ratio` of it, or everything but
        the final `end_seconds` when that is less (closing credits, a last heartbeat lost)."""
        ratio_part = self.completion_ratio * duration
        if duration > self.end_seconds:
            return min(ratio_part, duration - self.end_seconds)
        return ratio_part

    def allowance(self, elapsed: float | None) -> float:
        """New seconds a heartbeat may add, `elapsed` wall-clock seconds after the previous
        heartbeat of its session (None: the session's first heartbeat)."""
        return max(0.0, elapsed or 0.0) * self.max_playback_rate + self.rate_slack_seconds

    def next_position(self, stored: float, reported: float) -> float:
        """Where to resume: the reported position, unless it would throw away real progress
        (a position under `resume_min_seconds` after one at or past it)."""
        if reported < self.resume_min_seconds <= stored:
            return stored
        return reported

    def is_near_end(self, position: float, duration: float) -> bool:
        """A position in the last `end_seconds` resumes at the start of the next lesson."""
        return duration > 0 and position >= duration - self.end_seconds


# --- Intervals ------------------------------------------------------------------------------


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint, non-touching intervals covering the same seconds as `intervals`."""
    merged: list[list[float]] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def measure(intervals: Iterable[Interval]) -> float:
    """Total length of disjoint intervals."""
    return _round(sum(end - start for start, end in intervals))


def normalise(ranges: Iterable[Sequence[float]], duration: float) -> list[Interval]:
    """Reported ranges clamped to `[0, duration]`, rounded, without empty ones, as a union."""
    clamped = []
    for start, end in ranges:
        start = _round(min(max(float(start), 0.0), duration))
        end = _round(min(max(float(end), 0.0), duration))
        if end > start:
            clamped.append((start, end))
    return union(clamped)


def subtract(ranges: Sequence[Interval], existing: Sequence[Interval]) -> list[Interval]:
    """The parts of `ranges` not covered by `existing` (both sorted and disjoint)."""
    parts: list[Interval] = []
    index = 0
    for start, end in ranges:
        cursor = start
        while index < len(existing) and existing[index][1] <= cursor:
            index += 1
        probe = index
        while probe < len(existing) and existing[probe][0] < end:
            covered_start, covered_end = existing[probe]
            if covered_start > cursor:
                parts.append((cursor, covered_start))
            cursor = max(cursor, covered_end)
            if cursor >= end:
                break
            probe += 1
        if cursor < end:
            parts.append((cursor, end))
    return parts


def take(parts: Sequence[Interval], budget: float) -> tuple[list[Interval], float]:
    """The earliest `budget` seconds of `parts`, and how many seconds were left out."""
    kept: list[Interval] = []
    remaining = max(0.0, budget)
    for start, end in parts:
        if remaining <= _EPSILON:
            break
        cut = _round(min(end, start + remaining))
        if cut > start:
            kept.append((start, cut))
            remaining -= cut - start
    trimmed = _round(measure(parts) - measure(kept))
    return kept, max(0.0, trimmed)


def touching(existing: Sequence[Interval], ranges: Sequence[Interval]) -> list[Interval]:
    """The intervals of `existing` that overlap or touch one of `ranges` (what a merge with
    them can change). The SQL store runs the same test as a query."""
    return [
        (start, end)
        for start, end in existing
        if any(start <= r_end and end >= r_start for r_start, r_end in ranges)
    ]


# --- Sessions and sequence numbers ----------------------------------------------------------


@dataclass(frozen=True)
class SessionMark:
    """What is remembered of one playback session: the highest sequence number applied (`hw`),
    which of the `SEQ_WINDOW` numbers below it were applied (bit i: `hw - 1 - i`) and the wall-
    clock time (epoch seconds) of its last applied heartbeat."""

    id: str
    hw: int
    mask: int
    at: float

    def as_dict(self) -> dict:
        return {"id": self.id, "hw": self.hw, "mask": self.mask, "at": self.at}

    @classmethod
    def from_dict(cls, data: dict) -> SessionMark:
        return cls(id=str(data["id"]), hw=int(data["hw"]), mask=int(data["mask"]), at=data["at"])


def sessions_from(data: Iterable[dict] | None) -> tuple[SessionMark, ...]:
    return tuple(SessionMark.from_dict(item) for item in data or ())


def sessions_as_list(sessions: Iterable[SessionMark]) -> list[dict]:
    return [mark.as_dict() for mark in sessions]


@dataclass(frozen=True)
class Admission:
    """Whether a (session, seq) is new, and what it means for the heartbeat."""

    fresh: bool  # not seen before: apply it
    newest: bool  # the highest seq of its session so far: its position counts
    elapsed: float | None  # wall-clock seconds since the session's previous heartbeat
    sessions: tuple[SessionMark, ...]  # the updated marks (unchanged when not fresh)


def admit(sessions: Sequence[SessionMark], session_id: str, seq: int, now: float) -> Admission:
    """Decide on heartbeat `seq` of `session_id` arriving at `now` (epoch seconds).

    Replays answer `fresh=False`. A seq below the session's highest one is applied once if it is
    within `SEQ_WINDOW` of it (out of order), and counts as a replay when older than that.
    """
    full = (1 << SEQ_WINDOW) - 1
    current = next((mark for mark in sessions if mark.id == session_id), None)
    others = [mark for mark in sessions if mark.id != session_id]
    if current is None:
        mark = SessionMark(id=session_id, hw=seq, mask=0, at=now)
        elapsed = None
        newest = True
    elif seq > current.hw:
        shift = seq - current.hw
        mask = ((current.mask << 1) | 1) << (shift - 1) if shift <= SEQ_WINDOW else 0
        mark = SessionMark(id=session_id, hw=seq, mask=mask & full, at=now)
        elapsed = now - current.at
        newest = True
    else:
        offset = current.hw - 1 - seq
        if seq == current.hw or offset >= SEQ_WINDOW or current.mask & (1 << offset):
            return Admission(fresh=False, newest=False, elapsed=None, sessions=tuple(sessions))
        mark = replace(current, mask=current.mask | (1 << offset), at=now)
        elapsed = now - current.at
        newest = False
    kept = sorted([*others, mark], key=lambda item: item.at, reverse=True)[:MAX_SESSIONS]
    return Admission(fresh=True, newest=newest, elapsed=elapsed, sessions=tuple(kept))


# --- Heartbeats -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Heartbeat:
    """One heartbeat as the player sent it (validated: finite numbers, start <= end)."""

    session: str
    seq: int
    position: float
    ranges: tuple[Interval, ...] = ()


@dataclass(frozen=True)
class LedgerState:
    """A stored record as the ledger needs it. `intervals` holds every stored interval that
    touches the heartbeat's ranges (more is fine); `watched_seconds` is the record's total."""

    intervals: tuple[Interval, ...] = ()
    watched_seconds: float = 0.0
    position: float = 0.0
    completed: bool = False
    sessions: tuple[SessionMark, ...] = ()


@dataclass(frozen=True)
class LedgerResult:
    applied: bool
    intervals: tuple[Interval, ...]  # replaces `LedgerState.intervals`
    watched_seconds: float
    coverage: float
    position: float
    completed: bool
    newly_completed: bool
    sessions: tuple[SessionMark, ...]
    added_seconds: float = 0.0
    trimmed_seconds: float = 0.0
    changed_intervals: bool = field(default=False)


def coverage_of(watched: float, duration: float) -> float:
    if duration <= 0:
        return 0.0
    return min(1.0, round(watched / duration, 6))


def apply_heartbeat(
    state: LedgerState, heartbeat: Heartbeat, *, duration: float, now: float, policy: Policy
) -> LedgerResult:
    """The record after `heartbeat`: its ranges merged in (no more new seconds than the
    session's wall-clock allowance), the resume position moved, completion decided."""
    admission = admit(state.sessions, heartbeat.session, heartbeat.seq, now)
    if not admission.fresh:
        return LedgerResult(
            applied=False,
            intervals=state.intervals,
            watched_seconds=state.watched_seconds,
            coverage=coverage_of(state.watched_seconds, duration),
            position=state.position,
            completed=state.completed,
            newly_completed=False,
            sessions=state.sessions,
        )
    existing = list(state.intervals)
    ranges = normalise(heartbeat.ranges, duration)
    new_parts = subtract(ranges, existing)
    kept, trimmed = take(new_parts, policy.allowance(admission.elapsed))
    added = measure(kept)
    intervals = tuple(union([*existing, *kept])) if kept else tuple(existing)
    watched = min(_round(duration), _round(state.watched_seconds + added))
    position = state.position
    if admission.newest:
        reported = _round(min(max(heartbeat.position, 0.0), duration))
        position = policy.next_position(state.position, reported)
    completed = state.completed or (
        duration > 0 and watched + _EPSILON >= policy.required_seconds(duration)
    )
    return LedgerResult(
        applied=True,
        intervals=intervals,
        watched_seconds=watched,
        coverage=coverage_of(watched, duration),
        position=position,
        completed=completed,
        newly_completed=completed and not state.completed,
        sessions=admission.sessions,
        added_seconds=added,
        trimmed_seconds=trimmed,
        changed_intervals=bool(kept),
    )


# --- Retention ------------------------------------------------------------------------------


def bucket_count(duration: float, size: int = BUCKET_SECONDS) -> int:
    return math.ceil(duration / size) if duration > 0 else 0


def last_bucket_midpoint(duration: float, size: int = BUCKET_SECONDS) -> float:
    """Midpoint of the last bucket, which may be shorter than `size`."""
    return ((bucket_count(duration, size) - 1) * size + duration) / 2


def first_bucket_at_or_after(start: float, size: int = BUCKET_SECONDS) -> int:
    """Index of the first full bucket whose midpoint is at or after `start`."""
    return math.ceil((start - size / 2) / size)


def retention_from_edges(
    *,
    duration: float,
    first_buckets: dict[int, int],
    end_buckets: dict[int, int],
    last_bucket_viewers: int,
    size: int = BUCKET_SECONDS,
) -> list[int]:
    """Viewers per bucket from counts of intervals by first covered bucket and by first bucket
    past their end (a difference array). A bucket counts as watched by a learner when its
    midpoint lies in one of their intervals; intervals of one learner are disjoint, so each
    midpoint is counted at most once per learner. The last bucket, possibly short, is counted
    by the store at its own midpoint (`last_bucket_viewers`)."""
    count = bucket_count(duration, size)
    if count == 0:
        return []
    last = count - 1
    diff = [0] * (count + 1)
    for index, n in first_buckets.items():
        diff[min(max(int(index), 0), last)] += n
    for index, n in end_buckets.items():
        diff[min(max(int(index), 0), last)] -= n
    viewers = []
    running = 0
    for index in range(last):
        running += diff[index]
        viewers.append(running)
    viewers.append(last_bucket_viewers)
    return viewers
