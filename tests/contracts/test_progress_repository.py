"""The progress store contract: the same tests against every `ProgressRepository`.

Backends (see conftest.py): the SQL tables on the test database (real SQLite or PostgreSQL),
MongoDB through mongomock (a mock of the server, always), and a real MongoDB server when
MONGO_URL is set. The terminal summary says which ran.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from progress.ledger import MAX_SESSIONS, Heartbeat, Policy
from progress.repository import SeedProgress

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = Policy(
    completion_ratio=0.9,
    max_playback_rate=2.0,
    rate_slack_seconds=10.0,
    resume_min_seconds=5.0,
    end_seconds=10.0,
)
# Generous allowance, for tests about merging rather than about the wall-clock limit.
OPEN = Policy(rate_slack_seconds=10_000.0)


class Learner:
    """One (user, course, lesson) and a shortcut to send heartbeats for it."""

    def __init__(self, repo, duration: float = 300.0, *, course_id=None, user_id=None):
        self.repo = repo
        self.user_id = user_id or uuid.uuid4()
        self.course_id = course_id or uuid.uuid4()
        self.lesson_id = uuid.uuid4()
        self.duration = duration

    def beat(self, seq, position, *ranges, session="s1", at=T0, policy=OPEN, lesson_id=None):
        return self.repo.record_heartbeat(
            user_id=self.user_id,
            course_id=self.course_id,
            lesson_id=lesson_id or self.lesson_id,
            duration=self.duration,
            heartbeat=Heartbeat(session=session, seq=seq, position=position, ranges=ranges),
            policy=policy,
            now=at,
        )

    def intervals(self):
        record = self.repo.get(user_id=self.user_id, lesson_id=self.lesson_id, with_intervals=True)
        return list(record.intervals)


def test_first_heartbeat_creates_the_record(repo):
    learner = Learner(repo)
    outcome = learner.beat(0, 30.0, (0.0, 30.0))

    assert outcome.applied is True
    record = outcome.record
    assert (record.user_id, record.course_id, record.lesson_id) == (
        learner.user_id,
        learner.course_id,
        learner.lesson_id,
    )
    assert record.watched_seconds == 30.0
    assert record.coverage == pytest.approx(0.1)
    assert record.position == 30.0
    assert record.completed is False
    assert record.started_at == record.updated_at == T0
    assert learner.intervals() == [(0.0, 30.0)]
    assert repo.get(user_id=learner.user_id, lesson_id=uuid.uuid4()) is None


def test_ranges_merge_into_sorted_disjoint_intervals(repo):
    learner = Learner(repo)
    learner.beat(0, 10.0, (100.0, 110.0))
    learner.beat(1, 20.0, (0.0, 10.0), (15.0, 20.0))
    learner.beat(2, 30.0, (10.0, 12.0), (18.0, 30.0))  # touches [0,10], bridges to [15,20]
    outcome = learner.beat(3, 105.0, (105.0, 120.0), (50.0, 50.0))  # overlap; an empty range

    assert learner.intervals() == [(0.0, 12.0), (15.0, 30.0), (100.0, 120.0)]
    assert outcome.record.watched_seconds == 12.0 + 15.0 + 20.0
    assert outcome.added_seconds == 10.0


def test_ranges_are_clamped_to_the_duration(repo):
    learner = Learner(repo, duration=60.0)
    outcome = learner.beat(0, 60.5, (50.0, 60.9))

    assert learner.intervals() == [(50.0, 60.0)]
    assert outcome.record.watched_seconds == 10.0
    assert outcome.record.position == 60.0


def test_a_replayed_heartbeat_changes_nothing(repo):
    learner = Learner(repo)
    first = learner.beat(4, 40.0, (0.0, 40.0))
    replay = learner.beat(4, 40.0, (0.0, 40.0), at=T0 + timedelta(seconds=30))

    assert replay.applied is False
    assert replay.added_seconds == 0
    assert replay.record == first.record
    stored = repo.get(user_id=learner.user_id, lesson_id=learner.lesson_id)
    assert stored.updated_at == T0


def test_a_replay_with_other_ranges_is_still_ignored(repo):
    learner = Learner(repo)
    learner.beat(1, 10.0, (0.0, 10.0))
    replay = learner.beat(1, 200.0, (100.0, 200.0), at=T0 + timedelta(minutes=5))

    assert replay.applied is False
    assert learner.intervals() == [(0.0, 10.0)]
    assert replay.record.position == 10.0


def test_out_of_order_heartbeats_merge_and_keep_the_newest_position(repo):
    learner = Learner(repo)
    learner.beat(1, 10.0, (0.0, 10.0))
    learner.beat(3, 30.0, (20.0, 30.0), at=T0 + timedelta(seconds=20))
    late = learner.beat(2, 20.0, (10.0, 20.0), at=T0 + timedelta(seconds=21))

    assert late.applied is True
    assert learner.intervals() == [(0.0, 30.0)]
    assert late.record.position == 30.0  # seq 3 is newer than seq 2
    again = learner.beat(2, 20.0, (10.0, 20.0), at=T0 + timedelta(seconds=22))
    assert again.applied is False


def test_sessions_have_their_own_sequence_numbers(repo):
    learner = Learner(repo)
    learner.beat(1, 10.0, (0.0, 10.0), session="phone")
    other = learner.beat(1, 50.0, (40.0, 50.0), session="laptop")

    assert other.applied is True
    assert learner.intervals() == [(0.0, 10.0), (40.0, 50.0)]
    assert other.record.position == 50.0


def test_new_seconds_are_limited_by_the_wall_clock(repo):
    learner = Learner(repo, duration=600.0)
    first = learner.beat(0, 60.0, (0.0, 60.0), policy=POLICY)

    # No earlier heartbeat in this session: only the slack (10 s) counts.
    assert first.record.watched_seconds == 10.0
    assert first.trimmed_seconds == 50.0

    # 20 s later at up to 2x speed: 20 * 2 + 10 = 50 new seconds may be claimed.
    later = learner.beat(1, 200.0, (10.0, 200.0), policy=POLICY, at=T0 + timedelta(seconds=20))
    assert later.added_seconds == 50.0
    assert later.trimmed_seconds == 140.0
    assert learner.intervals() == [(0.0, 60.0)]


def test_rewatching_is_not_limited_and_adds_nothing(repo):
    learner = Learner(repo)
    learner.beat(0, 60.0, (0.0, 60.0))
    again = learner.beat(1, 60.0, (0.0, 60.0), policy=POLICY, at=T0 + timedelta(seconds=1))

    assert again.applied is True
    assert again.added_seconds == 0
    assert again.trimmed_seconds == 0
    assert again.record.watched_seconds == 60.0


def test_resume_position_is_not_reset_by_a_restart(repo):
    learner = Learner(repo)
    learner.beat(1, 120.0, (0.0, 120.0))
    restarted = learner.beat(2, 0.0, session="s1", policy=POLICY, at=T0 + timedelta(seconds=5))
    assert restarted.record.position == 120.0
    nearly = learner.beat(3, 4.9, (0.0, 4.9), policy=POLICY, at=T0 + timedelta(seconds=10))
    assert nearly.record.position == 120.0
    seeked_back = learner.beat(4, 30.0, (4.9, 30.0), policy=POLICY, at=T0 + timedelta(seconds=40))
    assert seeked_back.record.position == 30.0


def test_positions_under_the_minimum_count_before_real_progress(repo):
    learner = Learner(repo)
    outcome = learner.beat(1, 3.0, (0.0, 3.0))
    assert outcome.record.position == 3.0


def test_seeking_near_the_end_without_watching_does_not_complete(repo):
    learner = Learner(repo, duration=100.0)
    learner.beat(1, 5.0, (0.0, 5.0))
    seek = learner.beat(2, 95.0, (95.0, 96.0))

    assert seek.record.completed is False
    assert seek.record.position == 95.0
    assert seek.record.watched_seconds == 6.0


def test_a_video_completes_at_the_threshold_and_stays_completed(repo):
    learner = Learner(repo, duration=300.0)  # 0.9 * 300 = 270 < 300 - 10
    below = learner.beat(1, 269.0, (0.0, 269.0))
    assert below.record.completed is False
    assert below.newly_completed is False

    reached = learner.beat(2, 270.0, (269.0, 270.0), at=T0 + timedelta(seconds=1))
    assert reached.record.completed is True
    assert reached.newly_completed is True
    assert reached.record.completed_at == T0 + timedelta(seconds=1)

    later = learner.beat(3, 10.0, (0.0, 10.0), at=T0 + timedelta(seconds=9))
    assert later.record.completed is True
    assert later.newly_completed is False
    assert later.record.completed_at == T0 + timedelta(seconds=1)


def test_short_videos_complete_with_a_tolerance_for_the_final_seconds(repo):
    learner = Learner(repo, duration=40.0)  # 0.9 * 40 = 36, but 40 - 10 = 30 is enough
    outcome = learner.beat(1, 30.0, (0.0, 30.0), policy=POLICY.__class__(rate_slack_seconds=60))
    assert outcome.record.completed is True


def test_marking_a_lesson_completed_is_idempotent(repo):
    learner = Learner(repo)
    first = repo.mark_completed(
        user_id=learner.user_id, course_id=learner.course_id, lesson_id=learner.lesson_id, now=T0
    )
    again = repo.mark_completed(
        user_id=learner.user_id,
        course_id=learner.course_id,
        lesson_id=learner.lesson_id,
        now=T0 + timedelta(hours=1),
    )

    assert first.newly_completed is True
    assert again.newly_completed is False
    assert again.record.completed is True
    assert again.record.completed_at == T0
    assert again.record.coverage == 1.0


def test_list_for_user_reads_only_the_given_courses(repo):
    user_id = uuid.uuid4()
    a = Learner(repo, user_id=user_id)
    b = Learner(repo, user_id=user_id)
    c = Learner(repo, user_id=user_id)
    stranger = Learner(repo, course_id=a.course_id)
    for learner in (a, b, c, stranger):
        learner.beat(0, 5.0, (0.0, 5.0))

    records = repo.list_for_user(user_id=user_id, course_ids=[a.course_id, b.course_id])

    assert {record.lesson_id for record in records} == {a.lesson_id, b.lesson_id}
    assert all(record.intervals is None for record in records)
    assert repo.list_for_user(user_id=user_id, course_ids=[]) == []


def test_list_for_user_returns_the_same_records_as_get(repo):
    """The SQL store builds records from plain column tuples: each field must land in its own
    place (a completed lesson and an unfinished one, so no two fields are alike)."""
    user_id = uuid.uuid4()
    a = Learner(repo, user_id=user_id)
    b = Learner(repo, user_id=user_id, course_id=a.course_id)
    a.beat(0, 40.0, (0.0, 40.0))
    b.beat(0, 5.0, (0.0, 5.0), at=T0 + timedelta(seconds=30))
    repo.mark_completed(
        user_id=user_id, course_id=a.course_id, lesson_id=a.lesson_id, now=T0 + timedelta(minutes=2)
    )

    records = repo.list_for_user(user_id=user_id, course_ids=[a.course_id])

    assert sorted(records, key=lambda record: str(record.lesson_id)) == sorted(
        (repo.get(user_id=user_id, lesson_id=learner.lesson_id) for learner in (a, b)),
        key=lambda record: str(record.lesson_id),
    )


def test_summaries_for_user_are_list_for_user_cut_down(repo):
    """`summaries_for_user` (the dashboard's read) holds exactly the summary fields of what
    `list_for_user` returns, for the given courses only."""
    user_id = uuid.uuid4()
    a = Learner(repo, user_id=user_id)
    b = Learner(repo, user_id=user_id, course_id=a.course_id)
    c = Learner(repo, user_id=user_id)
    stranger = Learner(repo, course_id=a.course_id)
    a.beat(0, 40.0, (0.0, 40.0))
    b.beat(0, 7.5, (0.0, 7.5), at=T0 + timedelta(seconds=30))
    c.beat(0, 5.0, (0.0, 5.0))
    stranger.beat(0, 5.0, (0.0, 5.0))
    repo.mark_completed(
        user_id=user_id, course_id=a.course_id, lesson_id=b.lesson_id, now=T0 + timedelta(minutes=1)
    )

    summaries = repo.summaries_for_user(user_id=user_id, course_ids=[a.course_id])
    expected = [
        (record.course_id, record.lesson_id, record.position, record.completed, record.updated_at)
        for record in repo.list_for_user(user_id=user_id, course_ids=[a.course_id])
    ]

    assert sorted(map(tuple, summaries), key=str) == sorted(expected, key=str)
    assert {summary.lesson_id for summary in summaries} == {a.lesson_id, b.lesson_id}
    by_lesson = {summary.lesson_id: summary for summary in summaries}
    assert by_lesson[b.lesson_id].completed is True
    assert by_lesson[b.lesson_id].updated_at == T0 + timedelta(minutes=1)
    assert by_lesson[a.lesson_id].position == 40.0
    assert repo.summaries_for_user(user_id=user_id, course_ids=[]) == []


def test_count_completed_counts_only_completed_lessons_asked_for(repo):
    user_id = uuid.uuid4()
    done = Learner(repo, user_id=user_id, duration=20.0)
    done.beat(0, 20.0, (0.0, 20.0))
    half = Learner(repo, user_id=user_id, course_id=done.course_id, duration=200.0)
    half.beat(0, 20.0, (0.0, 20.0))
    text = Learner(repo, user_id=user_id, course_id=done.course_id)
    repo.mark_completed(user_id=user_id, course_id=text.course_id, lesson_id=text.lesson_id, now=T0)

    lessons = [done.lesson_id, half.lesson_id, text.lesson_id]
    assert repo.count_completed(user_id=user_id, lesson_ids=lessons) == 2
    assert repo.count_completed(user_id=user_id, lesson_ids=[half.lesson_id]) == 0
    assert repo.count_completed(user_id=uuid.uuid4(), lesson_ids=lessons) == 0


def test_recent_for_user_is_newest_first_and_pages(repo):
    user_id = uuid.uuid4()
    learners = [Learner(repo, user_id=user_id) for _ in range(5)]
    for minutes, learner in enumerate(learners):
        learner.beat(0, 1.0, (0.0, 1.0), at=T0 + timedelta(minutes=minutes))
    Learner(repo).beat(0, 1.0, (0.0, 1.0), at=T0 + timedelta(hours=1))  # someone else

    newest_first = [learner.lesson_id for learner in reversed(learners)]
    page1 = repo.recent_for_user(user_id=user_id, offset=0, limit=2)
    page3 = repo.recent_for_user(user_id=user_id, offset=4, limit=2)

    assert [record.lesson_id for record in page1] == newest_first[:2]
    assert [record.lesson_id for record in page3] == newest_first[4:]
    assert repo.count_for_user(user_id=user_id) == 5


def test_erase_user_deletes_only_that_user(repo):
    gone = uuid.uuid4()
    first = Learner(repo, user_id=gone)
    second = Learner(repo, user_id=gone)
    kept = Learner(repo, course_id=first.course_id)
    for learner in (first, second, kept):
        learner.beat(0, 9.0, (0.0, 9.0))

    assert repo.erase_user(user_id=gone) == 2

    assert repo.count_for_user(user_id=gone) == 0
    assert repo.get(user_id=gone, lesson_id=first.lesson_id) is None
    assert kept.intervals() == [(0.0, 9.0)]
    assert repo.erase_user(user_id=gone) == 0


def test_erase_lesson_deletes_its_records(repo):
    course_id = uuid.uuid4()
    a = Learner(repo, course_id=course_id)
    b = Learner(repo, course_id=course_id)
    b.lesson_id = a.lesson_id
    other = Learner(repo, course_id=course_id)
    for learner in (a, b, other):
        learner.beat(0, 9.0, (0.0, 9.0))

    assert repo.erase_lesson(lesson_id=a.lesson_id) == 2
    assert repo.get(user_id=a.user_id, lesson_id=a.lesson_id) is None
    assert other.intervals() == [(0.0, 9.0)]
    assert repo.retention(lesson_id=a.lesson_id, duration=300).viewers == 0


def test_active_learners_counts_distinct_recent_learners(repo):
    course_id = uuid.uuid4()
    busy = uuid.uuid4()
    Learner(repo, course_id=course_id, user_id=busy).beat(0, 1.0, (0.0, 1.0), at=T0)
    Learner(repo, course_id=course_id, user_id=busy).beat(0, 1.0, (0.0, 1.0), at=T0)
    Learner(repo, course_id=course_id).beat(0, 1.0, (0.0, 1.0), at=T0 - timedelta(days=1))
    Learner(repo, course_id=course_id).beat(0, 1.0, (0.0, 1.0), at=T0 - timedelta(days=8))
    Learner(repo).beat(0, 1.0, (0.0, 1.0), at=T0)  # another course

    since = T0 - timedelta(days=7)
    assert repo.active_learners(course_id=course_id, since=since) == 2
    assert repo.active_learners(course_id=uuid.uuid4(), since=since) == 0


def test_lesson_stats_count_started_completed_and_median(repo):
    course_id = uuid.uuid4()
    odd_lesson, even_lesson, untouched = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for seconds in (10.0, 30.0, 95.0):  # coverages 0.1, 0.3, 0.95
        learner = Learner(repo, duration=100.0, course_id=course_id)
        learner.beat(0, seconds, (0.0, seconds), lesson_id=odd_lesson)
    for seconds in (20.0, 40.0, 60.0, 100.0):  # coverages 0.2, 0.4, 0.6, 1.0
        learner = Learner(repo, duration=100.0, course_id=course_id)
        learner.beat(0, seconds, (0.0, seconds), lesson_id=even_lesson)

    stats = repo.lesson_stats(lesson_ids=[odd_lesson, even_lesson, untouched])

    assert set(stats) == {odd_lesson, even_lesson}
    assert (stats[odd_lesson].started, stats[odd_lesson].completed) == (3, 1)
    assert stats[odd_lesson].median_coverage == pytest.approx(0.3)
    assert (stats[even_lesson].started, stats[even_lesson].completed) == (4, 1)
    assert stats[even_lesson].median_coverage == pytest.approx(0.5)
    assert repo.lesson_stats(lesson_ids=[]) == {}


def test_retention_counts_learners_per_five_second_bucket(repo):
    lesson_id = uuid.uuid4()
    duration = 23.0  # buckets [0,5) [5,10) [10,15) [15,20) [20,23)
    watched = [
        [(0.0, 23.0)],  # every midpoint: 2.5, 7.5, 12.5, 17.5 and 21.5 (the short last one)
        [(0.0, 7.0), (12.0, 13.0)],  # 2.5 and 12.5 (7.5 is just past the first interval)
        [(2.4, 2.6), (17.6, 21.6)],  # 2.5 and 21.5 (17.5 is just before the second)
    ]
    for intervals in watched:
        learner = Learner(repo, duration=duration)
        learner.beat(0, 0.0, *intervals, lesson_id=lesson_id)
    Learner(repo, duration=duration).beat(0, 4.0, lesson_id=lesson_id)  # no ranges: no viewer

    retention = repo.retention(lesson_id=lesson_id, duration=duration)

    assert retention.viewers == 3
    assert retention.buckets == (3, 1, 2, 1, 2)
    assert repo.retention(lesson_id=uuid.uuid4(), duration=23.0).buckets == (0, 0, 0, 0, 0)
    assert repo.retention(lesson_id=lesson_id, duration=0).buckets == ()


def test_bulk_insert_writes_readable_records(repo):
    user_id, course_id = uuid.uuid4(), uuid.uuid4()
    lessons = [uuid.uuid4() for _ in range(3)]
    seeds = [
        SeedProgress(
            user_id=user_id,
            course_id=course_id,
            lesson_id=lesson_id,
            intervals=[(0.0, 10.0 * (index + 1)), (50.0, 55.0)],
            duration=100.0,
            position=12.5,
            completed=index == 2,
            updated_at=T0 + timedelta(minutes=index),
        )
        for index, lesson_id in enumerate(lessons)
    ]

    assert repo.bulk_insert(iter(seeds)) == 3

    record = repo.get(user_id=user_id, lesson_id=lessons[1], with_intervals=True)
    assert record.intervals == ((0.0, 20.0), (50.0, 55.0))
    assert record.watched_seconds == 25.0
    assert record.coverage == pytest.approx(0.25)
    assert record.position == 12.5
    assert record.updated_at == T0 + timedelta(minutes=1)
    assert repo.count_completed(user_id=user_id, lesson_ids=lessons) == 1
    assert [r.lesson_id for r in repo.recent_for_user(user_id=user_id, offset=0, limit=1)] == [
        lessons[2]
    ]


def test_a_heartbeat_merges_into_a_long_interval_list(repo):
    learner = Learner(repo, duration=3000.0)
    gaps = [(float(2 * i), float(2 * i + 1)) for i in range(1000)]  # 1000 disjoint seconds
    repo.bulk_insert(
        [
            SeedProgress(
                user_id=learner.user_id,
                course_id=learner.course_id,
                lesson_id=learner.lesson_id,
                intervals=gaps,
                duration=3000.0,
                position=0.0,
                completed=False,
                updated_at=T0,
            )
        ]
    )

    outcome = learner.beat(0, 10.0, (1.0, 6.0), (2500.0, 2510.0))

    intervals = learner.intervals()
    assert len(intervals) == 1000 - 3 + 1
    assert intervals[0] == (0.0, 7.0)
    assert intervals[1] == (8.0, 9.0)
    assert intervals[-1] == (2500.0, 2510.0)
    assert outcome.added_seconds == 3.0 + 10.0
    assert outcome.record.watched_seconds == 1000.0 + 13.0


def test_sessions_remembered_per_record_are_bounded(repo):
    learner = Learner(repo)
    for index in range(MAX_SESSIONS + 4):
        learner.beat(0, 1.0, (0.0, 1.0), session=f"tab-{index}", at=T0 + timedelta(seconds=index))
    # The oldest sessions were forgotten: their first seq applies again (ranges are a union,
    # so nothing is counted twice), the newest ones are still known.
    assert learner.beat(0, 1.0, session="tab-0", at=T0 + timedelta(minutes=1)).applied is True
    newest = f"tab-{MAX_SESSIONS + 3}"
    assert learner.beat(0, 1.0, session=newest, at=T0 + timedelta(minutes=2)).applied is False
    assert learner.intervals() == [(0.0, 1.0)]


def test_concurrent_heartbeats_lose_nothing(threaded_repo):
    """Many sessions of one learner write the same record at once; every range survives."""
    learner = Learner(threaded_repo, duration=1000.0)
    learner.beat(0, 0.0, session="opener")  # the record exists; the race is on updating it
    writers = 8
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        from django.db import connection

        try:
            barrier.wait(timeout=10)
            for seq in range(5):
                start = index * 100 + seq * 10
                learner.beat(seq, start + 10.0, (start, start + 10.0), session=f"w{index}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(index,)) for index in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    expected = [(index * 100.0, index * 100.0 + 50.0) for index in range(writers)]
    assert learner.intervals() == expected
    record = threaded_repo.get(user_id=learner.user_id, lesson_id=learner.lesson_id)
    assert record.watched_seconds == writers * 50.0


def test_concurrent_first_heartbeats_create_one_record(threaded_repo):
    learner = Learner(threaded_repo, duration=1000.0)
    writers = 6
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        from django.db import connection

        try:
            barrier.wait(timeout=10)
            learner.beat(0, 1.0, (index * 10.0, index * 10.0 + 5.0), session=f"w{index}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(index,)) for index in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert threaded_repo.count_for_user(user_id=learner.user_id) == 1
    assert learner.intervals() == [(i * 10.0, i * 10.0 + 5.0) for i in range(writers)]
