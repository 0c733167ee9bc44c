"""Benchmark data, generated quickly with bulk inserts and topped up to the scale asked for.

The shape is fixed by the number of progress records R (a multiple of 100):

| Rows              | Count            | At R = 1,000,000 |
|-------------------|------------------|------------------|
| students          | R / 100          | 10,000           |
| courses           | 10 per 100 students (block), at least 10 | 1,000 |
| lessons           | 20 per course (4 modules x 5)            | 20,000 |
| enrollments       | 10 per student   | 100,000          |
| progress records  | 10 per enrollment (the course's first 10 lessons) | 1,000,000 |

Student i belongs to block i // 100 and is enrolled in that block's 10 courses, so growing from
one scale to the next only adds rows: what exists is kept and the rest appended. Ids are UUIDv5
of stable names, so every row can be found (and every record addressed) without a lookup.

All students share one password hash, computed once with the configured hasher (Argon2):
hashing every account separately would take most of the generation time. The password is
`BENCH_PASSWORD`, public, for benchmark databases only.

Progress records go through the progress store's own bulk loader
(`get_progress_repository().bulk_insert`), so they land in whichever store is configured.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth.hashers import make_password
from django.db import connection, models, transaction
from django.utils import timezone
from tqdm import tqdm

from accounts.models import Role, User
from courses.models import Category, Course, CourseStatus
from enrollments.models import Enrollment, EnrollmentStatus
from lessons.models import Lesson, LessonKind, Module
from progress.repository import SeedProgress, get_progress_repository

BENCH_PASSWORD = "bench-only-password-7Qx"  # noqa: S105 - public by design, bench data only
EMAIL_DOMAIN = "bench.eduflow.invalid"
_NAMESPACE = uuid.UUID("6f1f3c5e-5d0c-4c55-9a43-2b3c7a1e0b10")

STUDENTS_PER_BLOCK = 100
COURSES_PER_BLOCK = 10
MODULES_PER_COURSE = 4
LESSONS_PER_MODULE = 5
LESSONS_PER_COURSE = MODULES_PER_COURSE * LESSONS_PER_MODULE
RECORDS_PER_ENROLLMENT = 10
RECORDS_PER_STUDENT = COURSES_PER_BLOCK * RECORDS_PER_ENROLLMENT  # 100
INSTRUCTOR_COURSES = 10  # courses per instructor
CATEGORIES = 10
BATCH = 2000  # rows per bulk insert


def bench_id(kind: str, index: int | str) -> uuid.UUID:
    """The stable id of a generated row."""
    return uuid.uuid5(_NAMESPACE, f"{kind}:{index}")


def students_for(records: int) -> int:
    return -(-records // RECORDS_PER_STUDENT)


def courses_for(students: int) -> int:
    blocks = -(-students // STUDENTS_PER_BLOCK)
    return max(blocks, 1) * COURSES_PER_BLOCK


def _block_courses(student: int) -> range:
    """The courses student `student` is enrolled in: the 10 courses of its block."""
    first = (student // STUDENTS_PER_BLOCK) * COURSES_PER_BLOCK
    return range(first, first + COURSES_PER_BLOCK)


def lesson_duration(course: int, lesson: int) -> int:
    """Video lengths between 5 and 15 minutes, the same on every run."""
    return 300 + (course * 37 + lesson * 53) % 601


@dataclass
class Timing:
    what: str
    rows: int
    seconds: float


@dataclass
class Generation:
    """What one top-up did."""

    records: int  # bulk-loaded progress records now in the store
    timings: list[Timing] = field(default_factory=list)
    asked: int | None = None  # set when the store already held more than asked for

    @property
    def seconds(self) -> float:
        return sum(timing.seconds for timing in self.timings)

    @property
    def created_rows(self) -> int:
        return sum(timing.rows for timing in self.timings)

    def describe(self) -> str:
        if self.asked is not None and self.asked < self.records:
            return (
                f"{self.records:,} progress records already loaded, more than the {self.asked:,} "
                "asked for (measured at the larger size; --fresh starts from an empty database)"
            )
        if not self.created_rows:
            return f"{self.records:,} progress records already loaded (nothing to generate)"
        parts = ", ".join(
            f"{timing.rows:,} {timing.what} in {timing.seconds:.1f} s"
            for timing in self.timings
            if timing.rows
        )
        return f"topped up to {self.records:,} progress records: {parts}"


def settle_database() -> None:
    """Refresh the planner's statistics after bulk changes and, on PostgreSQL, vacuum: what
    autovacuum does on a maintained server (measurements should not depend on whether it
    happened to run yet, nor on dead rows left by the previous reset)."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)" if connection.vendor == "postgresql" else "ANALYZE")


def _batched(items: list, size: int = BATCH) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _bulk_create(model, rows: list, bar: tqdm) -> None:
    for batch in _batched(rows):
        with transaction.atomic():
            model.objects.bulk_create(batch, ignore_conflicts=True)
        bar.update(len(batch))


class Generator:
    def __init__(self, *, show_progress: bool = True):
        self.show_progress = show_progress
        self._password_hash: str | None = None
        self.repository = get_progress_repository()

    def _bar(self, total: int, desc: str) -> tqdm:
        return tqdm(total=total, desc=desc, unit="row", disable=not self.show_progress)

    @property
    def password_hash(self) -> str:
        if self._password_hash is None:
            self._password_hash = make_password(BENCH_PASSWORD)
        return self._password_hash

    def _user(self, kind: str, index: int, role: str) -> User:
        name = f"bench-{kind}-{index:06d}"
        return User(
            id=bench_id(kind, index),
            email=f"{name}@{EMAIL_DOMAIN}",
            username=name,
            full_name=f"Bench {kind} {index}",
            role=role,
            password=self.password_hash,
        )

    # --- the catalog ------------------------------------------------------------------------

    def _ensure_courses(self, count: int, generation: Generation) -> None:
        existing = set(
            Course.objects.filter(
                id__in=[bench_id("course", index) for index in range(count)]
            ).values_list("id", flat=True)
        )
        missing = [index for index in range(count) if bench_id("course", index) not in existing]
        if not missing:
            return
        started = time.perf_counter()
        instructors = sorted({index // INSTRUCTOR_COURSES for index in missing})
        categories = [
            Category(
                id=bench_id("category", index),
                name=f"Bench category {index}",
                slug=f"bench-category-{index}",
            )
            for index in range(CATEGORIES)
        ]
        now = timezone.now()
        courses, modules, lessons = [], [], []
        for index in missing:
            course_id = bench_id("course", index)
            courses.append(
                Course(
                    id=course_id,
                    slug=f"bench-course-{index:05d}",
                    title=f"Bench course {index}",
                    subtitle="Generated for load benchmarks",
                    description="A course generated by the benchmark harness.",
                    category_id=bench_id("category", index % CATEGORIES),
                    instructor_id=bench_id("instructor", index // INSTRUCTOR_COURSES),
                    status=CourseStatus.PUBLISHED,
                    published_at=now,
                )
            )
            for module in range(MODULES_PER_COURSE):
                module_id = bench_id("module", f"{index}:{module}")
                modules.append(
                    Module(
                        id=module_id,
                        course_id=course_id,
                        title=f"Part {module + 1}",
                        position=module + 1,
                    )
                )
                for slot in range(LESSONS_PER_MODULE):
                    lesson = module * LESSONS_PER_MODULE + slot
                    lessons.append(
                        Lesson(
                            id=bench_id("lesson", f"{index}:{lesson}"),
                            course_id=course_id,
                            module_id=module_id,
                            title=f"Lesson {lesson + 1}",
                            kind=LessonKind.VIDEO,
                            duration_seconds=lesson_duration(index, lesson),
                            position=slot + 1,
                        )
                    )
        people = [self._user("instructor", index, Role.INSTRUCTOR) for index in instructors]
        total = len(people) + len(categories) + len(courses) + len(modules) + len(lessons)
        with self._bar(total, "courses and lessons") as bar:
            _bulk_create(User, people, bar)
            _bulk_create(Category, categories, bar)
            _bulk_create(Course, courses, bar)
            _bulk_create(Module, modules, bar)
            _bulk_create(Lesson, lessons, bar)
        generation.timings.append(
            Timing(
                "courses (with modules and lessons)", len(courses), time.perf_counter() - started
            )
        )

    # --- students, enrollments, progress ----------------------------------------------------

    def _student_complete(self, index: int) -> bool:
        """Whether student `index` has all its records (the last one is written last)."""
        last_course = _block_courses(index)[-1]
        return self.repository_has(
            bench_id("student", index),
            bench_id("lesson", f"{last_course}:{RECORDS_PER_ENROLLMENT - 1}"),
        )

    def repository_has(self, user_id: uuid.UUID, lesson_id: uuid.UUID) -> bool:
        return self.repository.get(user_id=user_id, lesson_id=lesson_id) is not None

    def _loaded_students(self, wanted: int) -> int:
        """How many students (from index 0) are fully loaded, found by bisection (students
        are loaded in index order)."""
        present = User.objects.filter(
            username__startswith="bench-student-", email__endswith=f"@{EMAIL_DOMAIN}"
        ).count()
        low, high = 0, max(wanted, present)  # [0, low) complete, [high, ...) not
        while low < high:
            middle = (low + high) // 2
            if self._student_complete(middle):
                low = middle + 1
            else:
                high = middle
        return low

    def _records_for(self, student: int, now: datetime) -> Iterator[SeedProgress]:
        rng = random.Random(student)  # reproducible data, not secrets
        user_id = bench_id("student", student)
        for course in _block_courses(student):
            course_id = bench_id("course", course)
            finished = rng.randint(0, RECORDS_PER_ENROLLMENT)
            for lesson in range(RECORDS_PER_ENROLLMENT):
                duration = float(lesson_duration(course, lesson))
                updated_at = now - timedelta(seconds=rng.randint(60, 90 * 24 * 3600))
                if lesson < finished:
                    intervals = [(0.0, duration)]
                    position, completed = duration, True
                else:
                    intervals = []
                    cursor = 0.0
                    for _ in range(rng.randint(1, 3)):
                        start = cursor + rng.uniform(0, duration * 0.2)
                        end = min(start + rng.uniform(10, duration * 0.25), duration)
                        if end - start < 1:
                            break
                        intervals.append((round(start, 2), round(end, 2)))
                        cursor = end + 1
                    position = intervals[-1][1] if intervals else 0.0
                    completed = False
                yield SeedProgress(
                    user_id=user_id,
                    course_id=course_id,
                    lesson_id=bench_id("lesson", f"{course}:{lesson}"),
                    intervals=intervals,
                    duration=duration,
                    position=position,
                    completed=completed,
                    updated_at=updated_at,
                )

    def _erase_progress(self, user_ids: list[uuid.UUID]) -> None:
        for user_id in user_ids:
            self.repository.erase_user(user_id=user_id)

    def ensure_scale(self, records: int) -> Generation:
        """Top the data up to `records` bulk-loaded progress records (rounded up to 100s)."""
        wanted_students = students_for(records)
        generation = Generation(records=wanted_students * RECORDS_PER_STUDENT)
        self._ensure_courses(courses_for(wanted_students), generation)

        loaded = self._loaded_students(wanted_students)
        if loaded >= wanted_students:
            generation.records = loaded * RECORDS_PER_STUDENT
            generation.asked = wanted_students * RECORDS_PER_STUDENT
            return generation
        todo = list(range(loaded, wanted_students))

        started = time.perf_counter()
        with self._bar(len(todo), "students") as bar:
            _bulk_create(User, [self._user("student", index, Role.STUDENT) for index in todo], bar)
        generation.timings.append(Timing("students", len(todo), time.perf_counter() - started))

        started = time.perf_counter()
        enrolled_at = timezone.now() - timedelta(days=30)
        enrollments = [
            Enrollment(
                id=bench_id("enrollment", f"{index}:{course}"),
                user_id=bench_id("student", index),
                course_id=bench_id("course", course),
                status=EnrollmentStatus.ACTIVE,
                enrolled_at=enrolled_at,
            )
            for index in todo
            for course in _block_courses(index)
        ]
        with self._bar(len(enrollments), "enrollments") as bar:
            _bulk_create(Enrollment, enrollments, bar)
        generation.timings.append(
            Timing("enrollments", len(enrollments), time.perf_counter() - started)
        )

        # An interrupted earlier run may have left part of the next batch: start it afresh.
        per_batch = max(1, BATCH * 5 // RECORDS_PER_STUDENT)
        self._erase_progress([bench_id("student", index) for index in todo[:per_batch]])
        started = time.perf_counter()
        now = timezone.now()
        with self._bar(len(todo) * RECORDS_PER_STUDENT, "progress records") as bar:
            for chunk in _batched(todo, per_batch):
                batch = [record for index in chunk for record in self._records_for(index, now)]
                inserted = self.repository.bulk_insert(batch)
                bar.update(inserted)
        generation.timings.append(
            Timing(
                "progress records",
                len(todo) * RECORDS_PER_STUDENT,
                time.perf_counter() - started,
            )
        )
        return generation


# --- the heartbeat scenario's learners ------------------------------------------------------

HEARTBEAT_STEP = 10.0  # media seconds per heartbeat (a player reporting every 10 s)
HEARTBEAT_ROOM = 7200  # seconds of media after the seeded intervals, for the measured heartbeats


@dataclass(frozen=True)
class HeartbeatLesson:
    intervals: int  # disjoint intervals seeded in each learner's record before the run
    lesson_id: uuid.UUID
    duration: float

    @property
    def first_free_second(self) -> float:
        """Where the measured heartbeats start: past the seeded intervals, with a gap."""
        return 2.0 * self.intervals + HEARTBEAT_STEP

    @property
    def heartbeats_per_learner(self) -> int:
        """How many 10-second heartbeats fit before the end of the lesson."""
        return int((self.duration - self.first_free_second - 60) // HEARTBEAT_STEP)


@dataclass(frozen=True)
class HeartbeatFixture:
    course_id: uuid.UUID
    learner_ids: tuple[uuid.UUID, ...]
    lessons: dict[int, HeartbeatLesson]


def seeded_intervals(count: int) -> list[tuple[float, float]]:
    """`count` disjoint one-second intervals: [0, 1), [2, 3), [4, 5) ..."""
    return [(2.0 * index, 2.0 * index + 1.0) for index in range(count)]


class HeartbeatData:
    """Learners enrolled in one course, with one long video lesson per interval count.

    Before each measurement every learner's record of the lesson is reset to `intervals`
    disjoint intervals; the measured heartbeats then append 10-second ranges after them.
    """

    COURSE = "heartbeat-course"

    def __init__(self, generator: Generator):
        self.generator = generator
        self.repository = generator.repository

    def ensure(self, *, learners: int, interval_counts: list[int]) -> HeartbeatFixture:
        course_id = bench_id(self.COURSE, 0)
        instructor = self.generator._user("instructor", 0, Role.INSTRUCTOR)
        with transaction.atomic():
            User.objects.bulk_create([instructor], ignore_conflicts=True)
            Course.objects.bulk_create(
                [
                    Course(
                        id=course_id,
                        slug="bench-heartbeat-course",
                        title="Bench heartbeat course",
                        subtitle="Generated for the heartbeat benchmark",
                        instructor_id=instructor.id,
                        status=CourseStatus.PUBLISHED,
                        published_at=timezone.now(),
                    )
                ],
                ignore_conflicts=True,
            )
            lessons = self._ensure_lessons(course_id, interval_counts)
        learner_ids = tuple(bench_id("learner", index) for index in range(learners))
        existing = set(User.objects.filter(id__in=learner_ids).values_list("id", flat=True))
        missing = [index for index in range(learners) if learner_ids[index] not in existing]
        if missing:
            with self.generator._bar(len(missing) * 2, "heartbeat learners") as bar:
                _bulk_create(
                    User, [self.generator._user("learner", i, Role.STUDENT) for i in missing], bar
                )
                _bulk_create(
                    Enrollment,
                    [
                        Enrollment(
                            id=bench_id("learner-enrollment", index),
                            user_id=learner_ids[index],
                            course_id=course_id,
                            status=EnrollmentStatus.ACTIVE,
                        )
                        for index in missing
                    ],
                    bar,
                )
        return HeartbeatFixture(course_id=course_id, learner_ids=learner_ids, lessons=lessons)

    def _ensure_lessons(
        self, course_id: uuid.UUID, interval_counts: list[int]
    ) -> dict[int, HeartbeatLesson]:
        lessons: dict[int, HeartbeatLesson] = {}
        stored = {
            lesson.id: lesson
            for lesson in Lesson.objects.filter(course_id=course_id).order_by("position")
        }
        last_position = max((lesson.position for lesson in stored.values()), default=0)
        for count in interval_counts:
            lesson_id = bench_id("heartbeat-lesson", count)
            lesson = stored.get(lesson_id)
            if lesson is None:
                last_position += 1
                lesson = Lesson.objects.create(
                    id=lesson_id,
                    course_id=course_id,
                    title=f"Lecture with {count} watched stretches",
                    kind=LessonKind.VIDEO,
                    duration_seconds=int(2 * count + HEARTBEAT_ROOM),
                    position=last_position,
                )
            lessons[count] = HeartbeatLesson(
                intervals=count, lesson_id=lesson_id, duration=float(lesson.duration_seconds)
            )
        return lessons

    def reset(self, fixture: HeartbeatFixture, intervals: int) -> None:
        """Give every learner a record of the lesson holding exactly `intervals` intervals."""
        lesson = fixture.lessons[intervals]
        for user_id in fixture.learner_ids:
            self.repository.erase_user(user_id=user_id)
        seeded = seeded_intervals(intervals)
        now = timezone.now()
        self.repository.bulk_insert(
            SeedProgress(
                user_id=user_id,
                course_id=fixture.course_id,
                lesson_id=lesson.lesson_id,
                intervals=seeded,
                duration=lesson.duration,
                position=seeded[-1][1] if seeded else 0.0,
                completed=False,
                updated_at=now - timedelta(minutes=5),
            )
            for user_id in fixture.learner_ids
        )
        settle_database()

    def check(self, fixture: HeartbeatFixture, intervals: int, heartbeats: int) -> str | None:
        """Whether the store holds every one of the `heartbeats` sent since the last reset:
        each added `HEARTBEAT_STEP` new seconds, so the learners' watched seconds must sum to
        the seeded ones plus `heartbeats` x the step. A lost update shows here.

        Returns None when they do, else what is missing."""
        lesson = fixture.lessons[intervals]
        found = 0.0
        for user_id in fixture.learner_ids:
            record = self.repository.get(user_id=user_id, lesson_id=lesson.lesson_id)
            found += record.watched_seconds if record is not None else 0.0
        added = found - len(fixture.learner_ids) * float(intervals)
        expected = heartbeats * HEARTBEAT_STEP
        if abs(added - expected) < 0.01:
            return None
        return (
            f"{heartbeats:,} heartbeats should have added {expected:,.0f} watched seconds; "
            f"the store holds {added:,.0f}"
        )


# --- the request scenarios' users and ids (2-5, 7, 8) ---------------------------------------

ENROLLER = "enroller"  # accounts made only to enroll (scenario 7): block data stays as it is


def _spread(total: int, count: int) -> list[int]:
    """`count` indexes spread evenly over range(total) (all of them when count >= total)."""
    if count >= total:
        return list(range(total))
    return [index * total // count for index in range(count)]


class ScenarioData:
    """Who and what the request scenarios use, found in (or added to) the generated data.

    Courses and students are the block data of `Generator` at the step's scale; enrollments
    (scenario 7) are made by separate `bench-enroller-*` accounts so the block students keep
    exactly their 10 enrollments whatever ran before.
    """

    def __init__(self, generator: Generator):
        self.generator = generator

    @staticmethod
    def course_ids(records: int, count: int) -> list[uuid.UUID]:
        """`count` generated course ids spread over the catalog at this scale."""
        total = courses_for(students_for(records))
        return [bench_id("course", index) for index in _spread(total, count)]

    @staticmethod
    def student_indexes(records: int, count: int) -> list[int]:
        return _spread(students_for(records), count)

    def students_with_enrollments(
        self, records: int, count: int, enrollments: int = COURSES_PER_BLOCK
    ) -> list[uuid.UUID]:
        """`count` students spread over the population, each with exactly `enrollments`
        active enrollments (checked: the dashboard row says what it measured)."""
        ids = [bench_id("student", index) for index in self.student_indexes(records, count)]
        counts = dict(
            Enrollment.objects.filter(user_id__in=ids, status=EnrollmentStatus.ACTIVE)
            .values("user_id")
            .annotate(total=models.Count("id"))
            .values_list("user_id", "total")
        )
        wrong = [user_id for user_id in ids if counts.get(user_id, 0) != enrollments]
        if wrong:
            raise SystemExit(
                f"{len(wrong)} generated students do not have exactly {enrollments} active "
                f"enrollments (e.g. {wrong[0]}): the benchmark database was changed by hand; "
                "--fresh rebuilds it."
            )
        return ids

    @staticmethod
    def student_emails(records: int, count: int) -> list[str]:
        return [
            f"bench-student-{index:06d}@{EMAIL_DOMAIN}"
            for index in ScenarioData.student_indexes(records, count)
        ]

    def enrollment_pairs(self, records: int, count: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """`count` (enroller, course) pairs never enrolled before, over the catalog at this
        scale, in order: enroller 0 with every course, then enroller 1 ...; consecutive
        requests therefore enroll into different courses (each enrollment locks its course).

        Which pairs are taken is read from the database, so reruns pick fresh ones; enrollers
        are created as far as needed."""
        courses = [bench_id("course", index) for index in range(courses_for(students_for(records)))]
        taken = set(
            Enrollment.objects.filter(
                user__username__startswith=f"bench-{ENROLLER}-",
                user__email__endswith=f"@{EMAIL_DOMAIN}",
            ).values_list("user_id", "course_id")
        )
        pairs: list[tuple[uuid.UUID, uuid.UUID]] = []
        enroller = 0
        while len(pairs) < count:
            user_id = bench_id(ENROLLER, enroller)
            pairs.extend(
                (user_id, course_id) for course_id in courses if (user_id, course_id) not in taken
            )
            enroller += 1
        pairs = pairs[:count]
        with transaction.atomic():
            User.objects.bulk_create(
                [self.generator._user(ENROLLER, index, Role.STUDENT) for index in range(enroller)],
                ignore_conflicts=True,
            )
        return pairs

    @staticmethod
    def enrolled_pairs(pairs: list[tuple[uuid.UUID, uuid.UUID]]) -> int:
        """How many of `pairs` are enrolled now (active)."""
        users = {user_id for user_id, _course in pairs}
        wanted = set(pairs)
        found = Enrollment.objects.filter(
            user_id__in=users, status=EnrollmentStatus.ACTIVE
        ).values_list("user_id", "course_id")
        return sum(1 for pair in found if pair in wanted)
