"""The catalog cache: public course list and detail from the shared cache, invalidated exactly.

Real parts: the API through Django's test client, the database, and the configured cache (local
memory by default; the real Redis server when REDIS_URL is set, as in CI). Invalidation tests
commit for real (`transaction=True`), because versions change only once a change commits.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import transaction

from accounts.models import User
from courses import catalog_cache
from courses.models import Category, Course
from lessons import services as lesson_services
from lessons.models import Lesson, Module
from tests import factories

COURSES = "/api/v1/courses/"


def _detail(course) -> str:
    return f"{COURSES}{course.pk}/"


def _version():
    return cache.get(catalog_cache.VERSION_KEY)


@pytest.fixture(autouse=True)
def _no_pending_bump():
    catalog_cache._bump_pending = False
    yield
    catalog_cache._bump_pending = False


@pytest.fixture
def course(db, instructor):
    course = factories.PublishedCourseFactory(instructor=instructor, title="Cached course")
    module = factories.ModuleFactory(course=course, position=1)
    factories.LessonFactory(course=course, module=module, position=1, duration_seconds=60)
    return course


# --- hits, and who shares them ----------------------------------------------------------------


@pytest.mark.django_db
def test_public_list_and_detail_are_served_without_the_database(
    make_client, course, django_assert_num_queries
):
    anonymous = make_client()
    first_list = anonymous.get(COURSES)
    first_detail = anonymous.get(_detail(course))
    assert first_list.status_code == first_detail.status_code == 200
    with django_assert_num_queries(0):
        again_list = anonymous.get(COURSES)
        again_detail = anonymous.get(_detail(course))
    assert again_list.content == first_list.content
    assert again_detail.content == first_detail.content
    assert again_list["ETag"] == first_list["ETag"]
    assert again_list["Content-Type"] == "application/json"
    assert again_detail.json()["title"] == "Cached course"


@pytest.mark.django_db
def test_students_share_the_public_entry(make_client, course, student, django_assert_num_queries):
    """A student's catalog is the public one: after an anonymous read, only the user is loaded."""
    public = make_client().get(COURSES)
    client = make_client(student)
    with django_assert_num_queries(1):  # the JWT's user; the answer comes from the cache
        mine = client.get(COURSES)
    assert mine.content == public.content


@pytest.mark.django_db
def test_different_queries_are_different_entries(make_client, instructor):
    for index in range(3):
        factories.PublishedCourseFactory(instructor=instructor, title=f"T{index}")
    client = make_client()
    ordered = client.get(COURSES, {"ordering": "title"}).json()["results"]
    reverse = client.get(COURSES, {"ordering": "-title"}).json()["results"]
    assert [item["title"] for item in ordered] == ["T0", "T1", "T2"]
    assert [item["title"] for item in reverse] == ["T2", "T1", "T0"]
    # Parameter order does not matter: same entry, same bytes.
    one = client.get(f"{COURSES}?ordering=title&page_size=2")
    two = client.get(f"{COURSES}?page_size=2&ordering=title")
    assert one.content == two.content
    assert one.json()["next"].startswith("http://testserver/api/v1/courses/?")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["instructor", "admin"])
def test_staff_views_are_never_cached_nor_leaked(
    make_client, course, instructor, admin_user, role, django_assert_max_num_queries
):
    """Drafts seen by their owner or an admin never reach the public, and the reverse."""
    draft = factories.CourseFactory(instructor=instructor, title="Secret draft")
    staff = make_client(instructor if role == "instructor" else admin_user)
    public_before = make_client().get(COURSES).json()
    assert [item["title"] for item in public_before["results"]] == ["Cached course"]
    for _ in range(2):
        with django_assert_max_num_queries(10) as captured:
            titles = [item["title"] for item in staff.get(COURSES).json()["results"]]
        assert len(captured) >= 3  # computed every time: count, page, totals (plus the user)
        assert "Secret draft" in titles
        assert staff.get(_detail(draft)).status_code == 200
    public_after = make_client().get(COURSES).json()
    assert public_after == public_before
    assert make_client().get(_detail(draft)).status_code == 404


@pytest.mark.django_db
def test_errors_and_html_are_not_cached(make_client, course):
    client = make_client()
    assert client.get(COURSES, {"ordering": "nope"}).status_code == 400
    assert client.get(COURSES, {"page": 99}).status_code == 404
    html = client.get(COURSES, HTTP_ACCEPT="text/html")
    assert html.status_code == 200
    assert html["Content-Type"].startswith("text/html")
    json_answer = client.get(COURSES)
    assert json_answer["Content-Type"] == "application/json"
    assert json_answer.json()["count"] == 1


@pytest.mark.django_db
def test_switched_off(make_client, course, settings, django_assert_num_queries):
    settings.CATALOG_CACHE_SECONDS = 0
    client = make_client()
    client.get(COURSES)
    with django_assert_num_queries(3):
        assert client.get(COURSES).status_code == 200
    assert _version() is None


@pytest.mark.django_db
def test_entries_expire(make_client, course, settings):
    settings.CATALOG_CACHE_SECONDS = 123
    make_client().get(_detail(course))
    keys = [key for key in _entry_keys()]
    assert keys, "an entry was written"
    ttl = getattr(cache, "ttl", None)
    if ttl is not None:  # django-redis
        assert 0 < ttl(keys[0]) <= 123
    else:  # local memory: the expiry it recorded
        expiry = cache._expire_info[cache.make_key(keys[0])]
        import time

        assert 0 < expiry - time.time() <= 123


def _entry_keys() -> list[str]:
    keys = getattr(cache, "keys", None)
    if keys is not None:  # django-redis
        return list(keys("catalog:entry:*"))
    prefix = cache.make_key("catalog:entry:")
    return [key.split(":", 2)[2] for key in cache._cache if key.startswith(prefix)]


# --- invalidation: every kind of change ---------------------------------------------------------


def _rename_course(course, instructor, make_client, admin_user):
    response = make_client(instructor).patch(_detail(course), {"title": "Renamed"}, format="json")
    assert response.status_code == 200


def _archive(course, instructor, make_client, admin_user):
    assert make_client(instructor).post(f"{_detail(course)}archive/").status_code == 200


def _unpublish_in_bulk(course, instructor, make_client, admin_user):
    Course.objects.filter(pk=course.pk).update(status="draft")


def _rename_category(course, instructor, make_client, admin_user):
    response = make_client(admin_user).patch(
        f"/api/v1/categories/{course.category_id}/", {"name": "Renamed category"}, format="json"
    )
    assert response.status_code == 200


def _category_in_bulk(course, instructor, make_client, admin_user):
    Category.objects.filter(pk=course.category_id).update(name="Bulk category")


def _add_lesson(course, instructor, make_client, admin_user):
    response = make_client(instructor).post(
        "/api/v1/lessons/",
        {"course": str(course.pk), "title": "New", "kind": "text", "duration_seconds": 40},
        format="json",
    )
    assert response.status_code == 201, response.content


def _change_lesson_duration(course, instructor, make_client, admin_user):
    lesson = Lesson.objects.get(course=course)
    response = make_client(instructor).patch(
        f"/api/v1/lessons/{lesson.pk}/", {"duration_seconds": 600}, format="json"
    )
    assert response.status_code == 200


def _delete_lesson(course, instructor, make_client, admin_user):
    lesson = Lesson.objects.get(course=course)
    assert make_client(instructor).delete(f"/api/v1/lessons/{lesson.pk}/").status_code == 204


def _delete_module(course, instructor, make_client, admin_user):
    module = Module.objects.get(course=course)
    assert make_client(instructor).delete(f"/api/v1/modules/{module.pk}/").status_code == 204


def _rename_module(course, instructor, make_client, admin_user):
    module = Module.objects.get(course=course)
    response = make_client(instructor).patch(
        f"/api/v1/modules/{module.pk}/", {"title": "Renamed module"}, format="json"
    )
    assert response.status_code == 200


def _duration_from_asset(course, instructor, make_client, admin_user):
    """A processed video fills lesson durations with a bulk update (no signals)."""
    asset = factories_asset(instructor)
    Lesson.objects.filter(course=course).update(asset=asset, duration_seconds=0)
    cache.set(catalog_cache.VERSION_KEY, "before-fill", None)
    assert lesson_services.lessons_fill_duration_from_asset(asset_id=asset.pk, duration_seconds=9)


def _rename_instructor(course, instructor, make_client, admin_user):
    user = User.objects.get(pk=instructor.pk)
    user.full_name = "Renamed Instructor"
    user.save()


def _admin_edit(course, instructor, make_client, admin_user):
    """The Django admin's course page, as staff use it."""
    from django.test import Client

    from tests.courses.test_admin import _course_form, _empty_inlines

    site = Client()
    site.force_login(admin_user)
    data = {
        **_course_form(
            title="Admin title",
            slug=course.slug,
            instructor=str(instructor.pk),
            category=str(course.category_id),
        ),
        **_empty_inlines(),
    }
    response = site.post(f"/admin/courses/course/{course.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]


def _admin_category_edit(course, instructor, make_client, admin_user):
    from django.test import Client

    site = Client()
    site.force_login(admin_user)
    category = Category.objects.get(pk=course.category_id)
    response = site.post(
        f"/admin/courses/category/{category.pk}/change/",
        {"name": "Admin category", "slug": category.slug},
    )
    assert response.status_code == 302, response.content[:2000]


def factories_asset(owner):
    from media.models import MediaAsset

    return MediaAsset.objects.create(owner=owner, kind="video", status="ready")


CHANGES = {
    "course renamed (API)": (_rename_course, lambda body: body["title"] == "Renamed"),
    "course archived": (_archive, None),
    "course unpublished in bulk": (_unpublish_in_bulk, None),
    "category renamed (API)": (
        _rename_category,
        lambda body: body["category"]["name"] == "Renamed category",
    ),
    "category renamed in bulk": (
        _category_in_bulk,
        lambda body: body["category"]["name"] == "Bulk category",
    ),
    "lesson added": (_add_lesson, lambda body: body["lesson_count"] == 2),
    "lesson duration changed": (
        _change_lesson_duration,
        lambda body: body["total_duration_seconds"] == 600,
    ),
    "lesson deleted": (_delete_lesson, lambda body: body["lesson_count"] == 0),
    "module deleted with its lessons": (_delete_module, lambda body: body["lesson_count"] == 0),
    "module renamed": (_rename_module, None),
    "duration filled from a video": (
        _duration_from_asset,
        lambda body: body["total_duration_seconds"] == 9,
    ),
    "instructor renamed": (
        _rename_instructor,
        lambda body: body["instructor"]["full_name"] == "Renamed Instructor",
    ),
    "course edited in the admin": (_admin_edit, lambda body: body["title"] == "Admin title"),
    "category edited in the admin": (
        _admin_category_edit,
        lambda body: body["category"]["name"] == "Admin category",
    ),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", list(CHANGES))
def test_every_change_invalidates_at_once(change, make_client, course, instructor, admin_user):
    apply, check = CHANGES[change]
    client = make_client()
    before_list = client.get(COURSES)
    before_detail = client.get(_detail(course))
    version = _version()
    assert version is not None

    apply(course, instructor, make_client, admin_user)

    assert _version() != version, "the catalog version changed"
    after_list = client.get(COURSES)
    after_detail = client.get(_detail(course))
    assert after_detail.status_code in (200, 404)
    if change != "module renamed":  # the only change that no course answer shows
        assert after_list.content != before_list.content
        assert after_detail.content != before_detail.content
    if check is not None:
        assert check(after_detail.json())
        assert check(after_list.json()["results"][0])
    # What the cache now answers is what the database says.
    settings_off = {"CATALOG_CACHE_SECONDS": 0}
    from django.test import override_settings

    with override_settings(**settings_off):
        assert make_client().get(COURSES).content == after_list.content


@pytest.mark.django_db(transaction=True)
def test_publish_shows_a_new_course_at_once(make_client, instructor):
    draft = factories.CourseFactory(instructor=instructor, title="Fresh")
    factories.LessonFactory(course=draft, position=1)
    client = make_client()
    assert client.get(COURSES).json()["count"] == 0
    assert client.get(_detail(draft)).status_code == 404
    assert make_client(instructor).post(f"{_detail(draft)}publish/").status_code == 200
    assert client.get(COURSES).json()["count"] == 1
    assert client.get(_detail(draft)).json()["status"] == "published"


@pytest.mark.django_db(transaction=True)
def test_rolled_back_changes_keep_the_cache(make_client, course):
    make_client().get(COURSES)
    version = _version()
    with pytest.raises(RuntimeError), transaction.atomic():
        Course.objects.filter(pk=course.pk).update(title="Never")
        raise RuntimeError("roll back")
    assert _version() == version
    assert make_client().get(COURSES).json()["results"][0]["title"] == "Cached course"


@pytest.mark.django_db(transaction=True)
def test_a_student_login_or_rename_does_not_invalidate(make_client, course, student):
    make_client().get(COURSES)
    version = _version()
    student.full_name = "New name"
    student.save()
    student.last_login = None
    student.save(update_fields=["last_login"])
    assert _version() == version


@pytest.mark.django_db(transaction=True)
def test_lost_version_never_revives_old_entries(make_client, course):
    """If the cache loses the version key, old entries cannot match the new random version."""
    client = make_client()
    old = client.get(_detail(course)).content
    cache.delete(catalog_cache.VERSION_KEY)
    Course.objects.filter(pk=course.pk).update(title="Changed while lost")
    cache.delete(catalog_cache.VERSION_KEY)  # the bump above set one; lose it again
    assert client.get(_detail(course)).content != old


# --- cache outage ------------------------------------------------------------------------------

CLOSED_PORT_CACHE = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
    }
}


@pytest.fixture
def outage(settings):
    """The real django-redis backend pointed at a closed port (no server needed)."""
    catalog_cache.outage.reset()  # no rest period, and the next warning is due
    original = settings.CACHES
    settings.CACHES = CLOSED_PORT_CACHE
    yield
    settings.CACHES = original
    catalog_cache.outage.reset()


@pytest.mark.django_db(transaction=True)
def test_outage_serves_from_the_database_and_logs(make_client, course, outage, caplog):
    client = make_client()
    with caplog.at_level("WARNING", logger="courses.catalog_cache"):
        listed = client.get(COURSES)
        detail = client.get(_detail(course))
    assert listed.status_code == detail.status_code == 200
    assert listed.json()["results"][0]["title"] == "Cached course"
    assert detail["ETag"]
    assert any("catalog cache unavailable" in record.message for record in caplog.records)
    # While the cache rests after a failure, reads go straight to the database.
    assert catalog_cache.outage.skipping()
    assert client.get(COURSES).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_invalidation_lost_in_an_outage_is_retried(make_client, course, settings):
    client = make_client()
    client.get(_detail(course))  # cached under the current version
    version = _version()
    original = settings.CACHES
    settings.CACHES = CLOSED_PORT_CACHE
    try:
        Course.objects.filter(pk=course.pk).update(title="Changed in the outage")
        assert catalog_cache._bump_pending
    finally:
        settings.CACHES = original
    catalog_cache.outage.reset()  # the rest period is over
    assert _version() == version  # the invalidation never reached the cache...
    assert client.get(_detail(course)).json()["title"] == "Changed in the outage"  # ...until now
    assert _version() != version
    assert not catalog_cache._bump_pending


# --- hits answered before the framework (CatalogCacheMiddleware) --------------------------------

_SAME_ON_EVERY_ANSWER = ("Content-Type", "ETag", "Cache-Control", "Vary", "Allow")


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["list", "detail"])
def test_early_hit_matches_the_view_answer(make_client, course, monkeypatch, kind):
    from courses.views import CourseViewSet

    path = COURSES if kind == "list" else _detail(course)
    client = make_client()
    computed = client.get(path)

    def must_not_run(*args, **kwargs):
        raise AssertionError("the view ran for a cached anonymous read")

    monkeypatch.setattr(CourseViewSet, kind if kind == "list" else "retrieve", must_not_run)
    early = client.get(path)
    assert early.status_code == 200
    assert early.content == computed.content
    for header in _SAME_ON_EVERY_ANSWER:
        assert early[header] == computed[header], header
    assert early["X-Frame-Options"] == computed["X-Frame-Options"]
    assert early["X-Content-Type-Options"] == "nosniff"
    assert early["X-Request-ID"] != computed["X-Request-ID"]
    assert int(early["Content-Length"]) == len(early.content)
    assert early["RateLimit-Remaining"] == str(int(computed["RateLimit-Remaining"]) - 1)


@pytest.mark.django_db
def test_credentials_and_other_formats_reach_the_views(client, make_client, course, admin_user):
    draft = factories.CourseFactory(title="Draft for staff")
    anonymous = make_client()
    public = anonymous.get(COURSES)
    assert public.json()["count"] == 1
    client.force_login(admin_user)  # session cookie: the admin's own view, never the public one
    assert client.get(COURSES).json()["count"] == 2
    assert client.get(_detail(draft)).status_code == 200
    html = anonymous.get(COURSES, HTTP_ACCEPT="text/html")
    assert html["Content-Type"].startswith("text/html")
    assert anonymous.get(COURSES, {"format": "api"})["Content-Type"].startswith("text/html")
    assert anonymous.get(COURSES, HTTP_ACCEPT="application/json; indent=2").status_code == 200


@pytest.mark.django_db
def test_early_hits_count_against_the_anonymous_limit(make_client, course, settings):
    from rest_framework.settings import api_settings
    from rest_framework.throttling import SimpleRateThrottle

    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "anon": "3/min"}
    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = rates
    try:
        client = make_client()
        answers = [client.get(COURSES) for _ in range(4)]
    finally:
        SimpleRateThrottle.THROTTLE_RATES = original
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "throttled"
    assert int(refused["Retry-After"]) >= 1
    assert refused["RateLimit-Remaining"] == "0"
    assert refused["RateLimit-Limit"] == "3"
