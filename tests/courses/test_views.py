"""Course and category endpoints: shapes, validation, filters, search, ordering, pagination,
query counts, and problem+json for bad input.

Real parts: URL routes, JWT authentication, viewsets, filters, services and the database
(SQLite, or PostgreSQL with DATABASE_URL and Redis with REDIS_URL).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from courses.models import Category, Course, CourseStatus, Difficulty
from tests import factories

pytestmark = pytest.mark.django_db

COURSES = "/api/v1/courses/"


def _problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    return body


# --- shape -----------------------------------------------------------------------------------


def test_course_detail_shape_and_lesson_totals(make_client, instructor):
    category = factories.CategoryFactory(name="Web", slug="web")
    course = factories.PublishedCourseFactory(
        instructor=instructor, category=category, price=Decimal("19.90"), capacity=30
    )
    factories.LessonFactory(course=course, position=1, duration_seconds=120)
    factories.LessonFactory(course=course, position=2, duration_seconds=300)
    body = make_client().get(f"{COURSES}{course.pk}/").json()
    assert set(body) == {
        "id", "slug", "title", "subtitle", "description", "category", "difficulty",
        "language", "price", "currency", "capacity", "status", "instructor", "published_at",
        "created_at", "updated_at", "lesson_count", "total_duration_seconds", "thumbnail",
        "thumbnail_url",
    }  # fmt: skip
    assert body["category"] == {"id": str(category.pk), "name": "Web", "slug": "web"}
    assert body["instructor"] == {
        "id": str(instructor.pk),
        "username": instructor.username,
        "full_name": instructor.full_name,
    }
    assert body["price"] == "19.90"
    assert (body["lesson_count"], body["total_duration_seconds"]) == (2, 420)
    assert body["capacity"] == 30


def test_course_without_category_or_lessons(make_client, instructor):
    course = factories.CourseFactory(instructor=instructor, category=None)
    body = make_client(instructor).get(f"{COURSES}{course.pk}/").json()
    assert body["category"] is None
    assert (body["lesson_count"], body["total_duration_seconds"]) == (0, 0)


# --- create / update -------------------------------------------------------------------------


def test_create_with_all_fields(make_client, instructor):
    category = factories.CategoryFactory()
    response = make_client(instructor).post(
        COURSES,
        {
            "title": "Advanced SQL",
            "subtitle": "Windows and CTEs",
            "description": "Long text",
            "category": str(category.pk),
            "difficulty": "advanced",
            "language": "pt-BR",
            "price": "49.00",
            "currency": "eur",
            "capacity": 25,
            "status": "published",
            "published_at": "2020-01-01T00:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    course = Course.objects.get(pk=body["id"])
    assert course.slug == body["slug"] == "advanced-sql"
    assert (course.difficulty, course.language, course.currency) == ("advanced", "pt-BR", "EUR")
    assert (course.price, course.capacity, course.category) == (Decimal("49.00"), 25, category)
    # status and published_at are never writable: actions only
    assert (course.status, course.published_at) == (CourseStatus.DRAFT, None)
    assert body["status"] == "draft"


def test_create_with_taken_slug_is_400(make_client, instructor):
    factories.CourseFactory(slug="taken")
    response = make_client(instructor).post(COURSES, {"title": "X", "slug": "taken"}, format="json")
    body = _problem(response, 400, "validation_error")
    assert "slug" in body["errors"]
    assert Course.objects.count() == 1


def test_instructor_sending_another_users_id_is_403(make_client, instructor, other_instructor):
    response = make_client(instructor).post(
        COURSES, {"title": "X", "instructor": str(other_instructor.pk)}, format="json"
    )
    _problem(response, 403, "cannot_assign_instructor")
    assert not Course.objects.exists()


def test_instructor_sending_own_id_is_fine(make_client, instructor):
    response = make_client(instructor).post(
        COURSES, {"title": "X", "instructor": str(instructor.pk)}, format="json"
    )
    assert response.status_code == 201


def test_admin_assigns_instructor(make_client, admin_user, instructor, student):
    client = make_client(admin_user)
    response = client.post(COURSES, {"title": "X", "instructor": str(instructor.pk)}, format="json")
    assert response.status_code == 201
    assert response.json()["instructor"]["id"] == str(instructor.pk)
    course_id = response.json()["id"]
    response = client.patch(
        f"{COURSES}{course_id}/", {"instructor": str(student.pk)}, format="json"
    )
    assert "instructor" in _problem(response, 400, "validation_error")["errors"]
    unknown = "00000000-0000-4000-8000-000000000000"
    response = client.patch(f"{COURSES}{course_id}/", {"instructor": unknown}, format="json")
    assert "instructor" in _problem(response, 400, "validation_error")["errors"]
    assert Course.objects.get(pk=course_id).instructor == instructor


def test_owner_patch_changes_only_given_fields(make_client, instructor):
    course = factories.CourseFactory(instructor=instructor, price=Decimal("5.00"), capacity=10)
    response = make_client(instructor).patch(
        f"{COURSES}{course.pk}/", {"capacity": None, "status": "published"}, format="json"
    )
    assert response.status_code == 200
    course.refresh_from_db()
    assert (course.capacity, course.price, course.status) == (None, Decimal("5.00"), "draft")


def test_put_requires_title(make_client, instructor):
    course = factories.CourseFactory(instructor=instructor)
    response = make_client(instructor).put(f"{COURSES}{course.pk}/", {}, format="json")
    assert "title" in _problem(response, 400, "validation_error")["errors"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": 12}, None),  # coerced to "12": fine
        ({"title": ["a"]}, "title"),
        ({"title": "X", "price": "-1"}, "price"),
        ({"title": "X", "price": "abc"}, "price"),
        ({"title": "X", "price": "1.234"}, "price"),
        ({"title": "X", "price": "NaN"}, "price"),
        ({"title": "X", "price": "100000000"}, "price"),
        ({"title": "X", "capacity": 0}, "capacity"),
        ({"title": "X", "capacity": -3}, "capacity"),
        ({"title": "X", "capacity": "many"}, "capacity"),
        ({"title": "X", "capacity": 10**12}, "capacity"),
        ({"title": "X", "difficulty": "expert"}, "difficulty"),
        ({"title": "X", "currency": "EURO"}, "currency"),
        ({"title": "X", "language": "english language"}, "language"),
        ({"title": "X", "category": "not-a-uuid"}, "category"),
        ({"title": "X", "category": "00000000-0000-4000-8000-000000000000"}, "category"),
        ({"title": "X", "category": {"id": 1}}, "category"),
        ({"title": "X", "slug": "not a slug!"}, "slug"),
        ({"title": "X", "instructor": "nope"}, "instructor"),
    ],
)
def test_bad_course_input_is_400_and_creates_nothing(make_client, instructor, payload, field):
    response = make_client(instructor).post(COURSES, payload, format="json")
    if field is None:
        assert response.status_code == 201
        return
    body = _problem(response, 400, "validation_error")
    assert field in body["errors"]
    assert not Course.objects.exists()


def test_malformed_json_is_400(make_client, instructor):
    response = make_client(instructor).post(
        COURSES, data='{"title": "X",', content_type="application/json"
    )
    _problem(response, 400, "parse_error")
    assert not Course.objects.exists()


def test_json_array_body_is_400(make_client, instructor):
    response = make_client(instructor).post(COURSES, data="[1, 2]", content_type="application/json")
    _problem(response, 400, "validation_error")


def test_bad_patch_changes_nothing(make_client, instructor):
    course = factories.CourseFactory(instructor=instructor, title="Keep", capacity=3)
    response = make_client(instructor).patch(
        f"{COURSES}{course.pk}/", {"title": "Changed", "capacity": 0}, format="json"
    )
    _problem(response, 400, "validation_error")
    course.refresh_from_db()
    assert (course.title, course.capacity) == ("Keep", 3)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/courses/not-a-uuid/",
        "/api/v1/courses/123/publish/",
        "/api/v1/courses/00000000-0000-0000-0000-00000000000g/",
        "/api/v1/categories/abc/",
    ],
)
def test_invalid_uuid_in_path_is_404(make_client, admin_user, path):
    for method in ("get", "patch", "delete"):
        _problem(getattr(make_client(admin_user), method)(path), 404, "not_found")


def test_unknown_course_is_404(make_client, admin_user):
    response = make_client(admin_user).get(f"{COURSES}00000000-0000-4000-8000-000000000000/")
    _problem(response, 404, "not_found")


# --- actions ---------------------------------------------------------------------------------


def test_publish_without_lessons_is_409(make_client, instructor):
    course = factories.CourseFactory(instructor=instructor)
    response = make_client(instructor).post(f"{COURSES}{course.pk}/publish/")
    _problem(response, 409, "course_has_no_lessons")
    assert Course.objects.get(pk=course.pk).status == CourseStatus.DRAFT


def test_publish_then_archive_then_publish(make_client, instructor):
    course = factories.CourseFactory(instructor=instructor)
    factories.LessonFactory(course=course, position=1)
    client = make_client(instructor)
    first = client.post(f"{COURSES}{course.pk}/publish/").json()
    assert first["status"] == "published"
    assert first["published_at"] is not None
    assert first["lesson_count"] == 1
    assert client.post(f"{COURSES}{course.pk}/publish/").json() == first  # no-op
    assert client.post(f"{COURSES}{course.pk}/archive/").json()["status"] == "archived"
    assert client.post(f"{COURSES}{course.pk}/archive/").status_code == 200
    again = client.post(f"{COURSES}{course.pk}/publish/").json()
    assert (again["status"], again["published_at"]) == ("published", first["published_at"])


def test_actions_refuse_get(make_client, instructor):
    course = factories.CourseFactory(instructor=instructor)
    _problem(
        make_client(instructor).get(f"{COURSES}{course.pk}/publish/"), 405, "method_not_allowed"
    )


def test_delete_course_with_enrollment_is_409(make_client, instructor):
    course = factories.PublishedCourseFactory(instructor=instructor)
    factories.EnrollmentFactory(course=course)
    _problem(
        make_client(instructor).delete(f"{COURSES}{course.pk}/"), 409, "course_has_enrollments"
    )
    assert Course.objects.filter(pk=course.pk).exists()


def test_delete_published_course_without_enrollments(make_client, instructor):
    course = factories.PublishedCourseFactory(instructor=instructor)
    assert make_client(instructor).delete(f"{COURSES}{course.pk}/").status_code == 204
    assert not Course.objects.filter(pk=course.pk).exists()


# --- filters, search, ordering, pagination ---------------------------------------------------


@pytest.fixture
def catalog(instructor, other_instructor):
    web = factories.CategoryFactory(slug="web")
    data = factories.CategoryFactory(slug="data")
    now = timezone.now()
    courses = {
        "django": factories.PublishedCourseFactory(
            title="Django basics", category=web, instructor=instructor, price=0,
            difficulty=Difficulty.BEGINNER, language="en", published_at=now - timedelta(days=3),
        ),
        "react": factories.PublishedCourseFactory(
            title="React hooks", subtitle="Modern front ends", category=web,
            instructor=other_instructor, price=Decimal("30.00"),
            difficulty=Difficulty.INTERMEDIATE, language="fr", published_at=now - timedelta(days=1),
        ),
        "pandas": factories.PublishedCourseFactory(
            title="Pandas", description="DataFrames for django people", category=data,
            instructor=other_instructor, price=Decimal("10.00"),
            difficulty=Difficulty.ADVANCED, language="en", published_at=now - timedelta(days=2),
        ),
        "draft": factories.CourseFactory(
            title="Django draft", category=web, instructor=other_instructor, price=0
        ),
    }  # fmt: skip
    return courses


def _titles(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["title"] for item in response.json()["results"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["React hooks", "Pandas", "Django basics"]),
        ({"category": "web"}, ["React hooks", "Django basics"]),
        ({"category": "nope"}, []),
        ({"difficulty": "advanced"}, ["Pandas"]),
        ({"language": "fr"}, ["React hooks"]),
        ({"price": "free"}, ["Django basics"]),
        ({"price": "paid"}, ["React hooks", "Pandas"]),
        ({"search": "django"}, ["Pandas", "Django basics"]),  # title or description
        ({"search": "front"}, ["React hooks"]),  # subtitle
        ({"search": "django", "price": "free"}, ["Django basics"]),
        ({"ordering": "title"}, ["Django basics", "Pandas", "React hooks"]),
        ({"ordering": "-title"}, ["React hooks", "Pandas", "Django basics"]),
        ({"ordering": "price"}, ["Django basics", "Pandas", "React hooks"]),
        ({"ordering": "-price"}, ["React hooks", "Pandas", "Django basics"]),
        ({"ordering": "newest"}, ["React hooks", "Pandas", "Django basics"]),
    ],
)
def test_filters_search_and_ordering(make_client, catalog, params, expected):
    assert _titles(make_client().get(COURSES, params)) == expected


def test_instructor_filter(make_client, catalog, other_instructor):
    titles = _titles(make_client().get(COURSES, {"instructor": str(other_instructor.pk)}))
    assert titles == ["React hooks", "Pandas"]


def test_status_filter_cannot_reveal_drafts(make_client, catalog, student, other_instructor):
    assert _titles(make_client(student).get(COURSES, {"status": "draft"})) == []
    owner_view = make_client(other_instructor).get(COURSES, {"status": "draft"})
    assert _titles(owner_view) == ["Django draft"]


def test_newest_puts_unpublished_drafts_last_for_owners(make_client, catalog, other_instructor):
    titles = _titles(make_client(other_instructor).get(COURSES))
    assert titles == ["React hooks", "Pandas", "Django basics", "Django draft"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"difficulty": "expert"}, "difficulty"),
        ({"price": "cheap"}, "price"),
        ({"instructor": "not-a-uuid"}, "instructor"),
        ({"ordering": "created_at"}, "ordering"),
        ({"status": "deleted"}, "status"),
        ({"search": "\x00"}, None),
    ],
)
def test_invalid_filter_values_are_400(make_client, catalog, params, field):
    body = _problem(make_client().get(COURSES, params), 400, "validation_error")
    if field:
        assert field in body["errors"]


@pytest.mark.parametrize("term", ['"', "'", '"django', "%", "_", "\\", "a" * 2000, "é ñ 日本"])
def test_odd_search_terms_are_plain_text(make_client, catalog, term):
    assert make_client().get(COURSES, {"search": term}).status_code == 200


def test_pagination_is_deterministic_with_ties(make_client, instructor):
    stamp = timezone.now()
    for _ in range(7):
        factories.PublishedCourseFactory(
            instructor=instructor, title="Same", price=Decimal("1.00"), published_at=stamp
        )
    for ordering in ("newest", "title", "price", "-price", "-title"):
        seen: list[str] = []
        for page in (1, 2, 3):
            response = make_client().get(
                COURSES, {"ordering": ordering, "page": page, "page_size": 3}
            )
            seen += [item["id"] for item in response.json()["results"]]
        assert len(seen) == len(set(seen)) == 7, ordering


def test_page_size_is_clamped_to_100(make_client, instructor):
    category = factories.CategoryFactory()
    for _ in range(101):
        factories.PublishedCourseFactory(instructor=instructor, category=category)
    body = make_client().get(COURSES, {"page_size": 1000}).json()
    assert body["count"] == 101
    assert len(body["results"]) == 100
    assert body["next"] is not None


@pytest.mark.parametrize("page_size", ["0", "-1", "abc"])
def test_unusable_page_size_falls_back_to_default(make_client, instructor, page_size):
    category = factories.CategoryFactory()
    for _ in range(21):
        factories.PublishedCourseFactory(instructor=instructor, category=category)
    assert len(make_client().get(COURSES, {"page_size": page_size}).json()["results"]) == 20


@pytest.mark.parametrize("page", ["2", "0", "abc", "-1"])
def test_invalid_page_is_404_problem(make_client, catalog, page):
    _problem(make_client().get(COURSES, {"page": page}), 404, "not_found")


# --- query counts ----------------------------------------------------------------------------


@pytest.mark.parametrize("count", [5, 50])
def test_course_list_query_count_is_constant(
    make_client, instructor, django_assert_num_queries, count
):
    category = factories.CategoryFactory()
    for index in range(count):
        course = factories.PublishedCourseFactory(instructor=instructor, category=category)
        factories.LessonFactory(course=course, position=1, duration_seconds=index)
    anonymous, authenticated = make_client(), make_client(instructor)
    # The page is chosen on the course table; lesson totals are summed for its rows only.
    with django_assert_num_queries(3):  # count + page + lesson totals of the page
        body = anonymous.get(COURSES, {"page_size": 50}).json()
    assert len(body["results"]) == count
    assert all(item["lesson_count"] == 1 for item in body["results"])
    with django_assert_num_queries(0):  # the same public answer again: from the catalog cache
        assert anonymous.get(COURSES, {"page_size": 50}).json() == body
    with django_assert_num_queries(4):  # user + count + page + lesson totals (never cached)
        assert authenticated.get(COURSES, {"page_size": 50}).status_code == 200


@pytest.mark.parametrize("count", [3, 30])
def test_category_list_query_count_is_constant(make_client, django_assert_num_queries, count):
    for _ in range(count):
        factories.CategoryFactory()
    with django_assert_num_queries(2):  # count + page
        body = make_client().get("/api/v1/categories/", {"page_size": 50}).json()
    assert len(body["results"]) == count


def test_course_detail_is_one_query(make_client, instructor, django_assert_num_queries):
    course = factories.PublishedCourseFactory(instructor=instructor)
    factories.LessonFactory(course=course, position=1)
    with django_assert_num_queries(1):
        assert make_client().get(f"{COURSES}{course.pk}/").status_code == 200
    with django_assert_num_queries(0):  # from the catalog cache
        assert make_client().get(f"{COURSES}{course.pk}/").status_code == 200


# --- categories ------------------------------------------------------------------------------


def test_category_create_generates_slug_and_rejects_taken_one(make_client, admin_user):
    client = make_client(admin_user)
    response = client.post("/api/v1/categories/", {"name": "Machine Learning"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "slug", "created_at", "updated_at"}
    assert body["slug"] == "machine-learning"
    response = client.post(
        "/api/v1/categories/", {"name": "Other", "slug": "machine-learning"}, format="json"
    )
    assert "slug" in _problem(response, 400, "validation_error")["errors"]
    response = client.post("/api/v1/categories/", {"name": ""}, format="json")
    assert "name" in _problem(response, 400, "validation_error")["errors"]
    assert Category.objects.count() == 1


def test_category_in_use_cannot_be_deleted(make_client, admin_user):
    category = factories.CategoryFactory()
    factories.CourseFactory(category=category)
    response = make_client(admin_user).delete(f"/api/v1/categories/{category.pk}/")
    _problem(response, 409, "category_in_use")
    assert Category.objects.filter(pk=category.pk).exists()


def test_category_list_is_public_and_searchable(make_client):
    factories.CategoryFactory(name="Music", slug="music")
    factories.CategoryFactory(name="Art", slug="art")
    body = make_client().get("/api/v1/categories/").json()
    assert [item["name"] for item in body["results"]] == ["Art", "Music"]
    body = make_client().get("/api/v1/categories/", {"search": "mus"}).json()
    assert [item["slug"] for item in body["results"]] == ["music"]


# --- browsable API ---------------------------------------------------------------------------


def test_browsable_api_offers_write_forms_to_instructors(client, instructor):
    client.force_login(instructor)  # session login, as on /api-auth/login/
    course = factories.CourseFactory(instructor=instructor)
    module = factories.ModuleFactory(course=course, position=1)
    lesson = factories.LessonFactory(course=course, module=module, position=1)
    for path, field in (
        (COURSES, 'name="price"'),
        (f"{COURSES}{course.pk}/", 'name="capacity"'),
        ("/api/v1/modules/", 'name="position"'),
        (f"/api/v1/modules/{module.pk}/", 'name="position"'),
        ("/api/v1/lessons/", 'name="duration_seconds"'),
        (f"/api/v1/lessons/{lesson.pk}/", 'name="is_preview"'),
    ):
        response = client.get(path, HTTP_ACCEPT="text/html")
        assert response.status_code == 200, path
        assert field in response.content.decode(), path
