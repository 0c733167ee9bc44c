"""The asset endpoints: permission matrix for every role, list scoping, filters, pagination,
the serialized shape, deletion, session (CSRF) uploads, and the admin.

Real parts: the URL routes, JWT and session authentication, CSRF checks, the viewsets,
services and the database (SQLite, or PostgreSQL with DATABASE_URL), Pillow and pypdf,
`FileSystemStorage` under a per-test directory, the Django admin. No mocks.
"""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from media.models import AssetStatus, MediaAsset
from tests import factories
from tests.core.assertions import assert_problem
from tests.media import samples
from tests.media.samples import MEDIA_URL, stored_files, upload

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "student", "other_instructor", "owner", "admin")


@pytest.fixture
def people(student, instructor, other_instructor, admin_user):
    return {
        "anonymous": None,
        "student": student,
        "other_instructor": other_instructor,
        "owner": instructor,
        "admin": admin_user,
    }


@pytest.fixture
def image(make_client, instructor, local_storage) -> dict:
    """A ready image asset owned by `instructor`."""
    response = upload(make_client(instructor), samples.png_bytes(32, 32, exif=False))
    assert response.status_code == 201
    return response.json()


def _expect(status: int, response, code: str | None = None) -> None:
    if status >= 400:
        assert_problem(response, status, code or _DEFAULT_CODES[status])
    else:
        assert response.status_code == status, response.content


_DEFAULT_CODES = {
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
}


# --- permission matrix ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    list(zip(ROLES, (401, 403, 201, 201, 201), strict=True)),
)
def test_upload_matrix(people, make_client, local_storage, role, status):
    response = upload(make_client(people[role]), samples.png_bytes(8, 8, exif=False))
    _expect(status, response)
    assert MediaAsset.objects.count() == (1 if status == 201 else 0)
    assert len(stored_files(local_storage)) == (1 if status == 201 else 0)
    if status == 201:
        assert MediaAsset.objects.get().owner == people[role]


@pytest.mark.parametrize(
    ("action", "method", "suffix", "statuses"),
    [
        ("retrieve", "get", "", (401, 404, 404, 200, 200)),
        ("picture", "get", "thumbnail/", (401, 404, 404, 200, 200)),
        ("delete", "delete", "", (401, 404, 404, 204, 204)),
    ],
)
def test_object_endpoint_matrix(
    people, make_client, image, local_storage, action, method, suffix, statuses
):
    for role, status in zip(ROLES, statuses, strict=True):
        response = getattr(make_client(people[role]), method)(f"{MEDIA_URL}{image['id']}/{suffix}")
        _expect(status, response)
        if status == 204:
            break  # the asset is gone for the next role
    exists = MediaAsset.objects.filter(pk=image["id"]).exists()
    assert exists is (action != "delete")


@pytest.mark.parametrize(
    ("role", "status"), list(zip(ROLES, (401, 200, 200, 200, 200), strict=True))
)
def test_list_matrix(people, make_client, image, role, status):
    response = make_client(people[role]).get(MEDIA_URL)
    _expect(status, response)
    if status == 200:
        ids = [item["id"] for item in response.json()["results"]]
        assert ids == ([image["id"]] if role in ("owner", "admin") else [])


def test_unknown_and_malformed_ids_are_404(make_client, instructor):
    client = make_client(instructor)
    assert_problem(
        client.get(f"{MEDIA_URL}00000000-0000-0000-0000-000000000000/"), 404, "not_found"
    )
    assert_problem(client.get(f"{MEDIA_URL}not-a-uuid/"), 404, "not_found")


def test_assets_cannot_be_changed_in_place(make_client, instructor, image):
    client = make_client(instructor)
    for method in ("put", "patch"):
        response = getattr(client, method)(f"{MEDIA_URL}{image['id']}/", {}, format="json")
        assert_problem(response, 405, "method_not_allowed")


# --- list -------------------------------------------------------------------------------------


def test_list_is_newest_first_paginated_and_filterable(make_client, instructor, local_storage):
    client = make_client(instructor)
    pdf = upload(client, samples.pdf_bytes(1)).json()
    png = upload(client, samples.png_bytes(8, 8, exif=False)).json()
    video = MediaAsset.objects.create(owner=instructor, kind="video", status=AssetStatus.FAILED)
    factories.InstructorFactory()  # someone else with nothing

    everything = client.get(MEDIA_URL).json()
    assert everything["count"] == 3
    assert [item["id"] for item in everything["results"]] == [str(video.pk), png["id"], pdf["id"]]

    page = client.get(MEDIA_URL, {"page_size": 2, "page": 2}).json()
    assert [item["id"] for item in page["results"]] == [pdf["id"]]

    def ids(**query):
        return [item["id"] for item in client.get(MEDIA_URL, query).json()["results"]]

    assert ids(kind="document") == [pdf["id"]]
    assert ids(kind="image", status="ready") == [png["id"]]
    assert ids(status="failed") == [str(video.pk)]
    assert ids(provider="mux") == []
    assert_problem(client.get(MEDIA_URL, {"kind": "spreadsheet"}), 400, "validation_error")


def test_admin_lists_everyones_assets(make_client, admin_user, instructor, other_instructor):
    mine = MediaAsset.objects.create(owner=instructor, kind="document")
    theirs = MediaAsset.objects.create(owner=other_instructor, kind="image")
    ids = {item["id"] for item in make_client(admin_user).get(MEDIA_URL).json()["results"]}
    assert ids == {str(mine.pk), str(theirs.pk)}


@pytest.mark.parametrize("count", [2, 12])
def test_list_query_count_is_constant(make_client, instructor, django_assert_num_queries, count):
    for _ in range(count):
        MediaAsset.objects.create(owner=instructor, kind="document")
    client = make_client(instructor)
    with django_assert_num_queries(3):  # user + count + page
        assert len(client.get(MEDIA_URL).json()["results"]) == count


# --- shape ---------------------------------------------------------------------------------------


def test_serialized_asset_has_public_fields_only(make_client, instructor):
    asset = MediaAsset.objects.create(
        owner=instructor,
        kind="video",
        status=AssetStatus.READY,
        hls_key=b"0123456789abcdef",
        original="assets/x/original",
        mux_asset_id="mux-secret-asset",
        renditions={
            "master": "assets/x/hls/master.m3u8",
            "segment_seconds": 6,
            "encryption": "AES-128",
            "variants": [
                {
                    "name": "360p",
                    "width": 640,
                    "height": 360,
                    "bandwidth": 900000,
                    "playlist": "assets/x/hls/360p/index.m3u8",
                }
            ],
        },
        metadata={"duration": 12.5, "width": 640, "height": 360},
    )
    body = make_client(instructor).get(f"{MEDIA_URL}{asset.pk}/").json()
    assert set(body) == {
        "id", "kind", "status", "content_type", "size", "sha256", "provider", "metadata",
        "renditions", "error", "original_filename", "thumbnail_url", "created_at", "updated_at",
    }  # fmt: skip
    assert body["renditions"] == {
        "segment_seconds": 6,
        "encryption": "AES-128",
        "variants": [{"name": "360p", "width": 640, "height": 360, "bandwidth": 900000}],
    }
    text = str(body)
    for secret in ("assets/x", "mux-secret-asset", "0123456789abcdef", "hls_key"):
        assert secret not in text
    assert body["thumbnail_url"] is None  # no poster frame yet


def test_the_same_file_uploaded_twice_gives_two_assets(make_client, instructor, local_storage):
    client = make_client(instructor)
    data = samples.pdf_bytes(2)
    first, second = upload(client, data).json(), upload(client, data).json()
    assert first["id"] != second["id"]
    assert first["sha256"] == second["sha256"]
    assert len(stored_files(local_storage)) == 2


# --- deleting ----------------------------------------------------------------------------------


def test_delete_returns_204_and_removes_the_row_and_files(
    make_client, instructor, image, local_storage, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = make_client(instructor).delete(f"{MEDIA_URL}{image['id']}/")
    assert response.status_code == 204
    assert not MediaAsset.objects.filter(pk=image["id"]).exists()
    assert stored_files(local_storage) == []
    assert make_client(instructor).get(f"{MEDIA_URL}{image['id']}/").status_code == 404


# --- session authentication (browsable API) -------------------------------------------------------


@pytest.fixture
def session_client(instructor):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(instructor)
    return client


def test_session_upload_needs_the_csrf_token(session_client, local_storage):
    from django.core.files.uploadedfile import SimpleUploadedFile

    def post(**extra):
        part = SimpleUploadedFile("a.png", samples.png_bytes(8, 8, exif=False))
        return session_client.post(MEDIA_URL, {"file": part}, **extra)

    assert_problem(post(), 403, "permission_denied")
    assert stored_files(local_storage) == []
    session_client.get("/api-auth/login/")  # sets the csrftoken cookie
    token = session_client.cookies["csrftoken"].value
    response = post(HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201, response.content
    assert len(stored_files(local_storage)) == 1


def test_session_upload_too_large_is_refused_during_the_csrf_check(
    session_client, local_storage, settings
):
    """The CSRF check parses the body before the view runs; the size limits apply there too."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_MAX_IMAGE_BYTES = 10_000
    session_client.get("/api-auth/login/")
    token = session_client.cookies["csrftoken"].value
    part = SimpleUploadedFile("a.png", samples.noisy_png_bytes(200, 200))
    response = session_client.post(MEDIA_URL, {"file": part}, HTTP_X_CSRFTOKEN=token)
    assert_problem(response, 413, "file_too_large")
    assert stored_files(local_storage) == []


# --- admin -----------------------------------------------------------------------------------


@pytest.fixture
def site(client, admin_user):
    client.force_login(admin_user)
    return client


def test_admin_lists_filters_and_searches_assets(site, instructor):
    MediaAsset.objects.create(owner=instructor, kind="image", original_filename="cover.png")
    MediaAsset.objects.create(owner=instructor, kind="video", original_filename="intro.mp4")
    page = site.get("/admin/media/mediaasset/")
    assert page.status_code == 200
    assert b"cover.png" in page.content and b"intro.mp4" in page.content
    filtered = site.get("/admin/media/mediaasset/", {"kind__exact": "video"})
    assert b"intro.mp4" in filtered.content and b"cover.png" not in filtered.content
    searched = site.get("/admin/media/mediaasset/", {"q": "cover"})
    assert b"cover.png" in searched.content and b"intro.mp4" not in searched.content


def test_admin_asset_page_is_read_only(site, instructor):
    asset = MediaAsset.objects.create(
        owner=instructor, kind="document", original_filename="a.pdf", hls_key=b"k" * 16
    )
    page = site.get(f"/admin/media/mediaasset/{asset.pk}/change/")
    assert page.status_code == 200
    assert b'name="kind"' not in page.content and b'name="status"' not in page.content
    assert b"hls_key" not in page.content
    site.post(f"/admin/media/mediaasset/{asset.pk}/change/", {"kind": "image"})
    asset.refresh_from_db()
    assert asset.kind == "document"


def test_admin_upload_goes_through_the_service(site, admin_user, local_storage):
    from django.core.files.uploadedfile import SimpleUploadedFile

    refused = site.post(
        "/admin/media/mediaasset/add/", {"file": SimpleUploadedFile("x.svg", samples.SVG_PLAIN)}
    )
    assert refused.status_code == 200 and b"SVG" in refused.content
    assert MediaAsset.objects.count() == 0
    response = site.post(
        "/admin/media/mediaasset/add/",
        {"file": SimpleUploadedFile("cover.jpg", samples.jpeg_bytes(1600, 900))},
    )
    assert response.status_code == 302, response.content[:2000]
    asset = MediaAsset.objects.get()
    assert (asset.owner, asset.kind, asset.content_type) == (admin_user, "image", "image/webp")
    assert asset.metadata["width"] == 1280
    assert stored_files(local_storage) == [f"assets/{asset.pk}/original"]


def test_admin_delete_goes_through_the_service(
    site, make_client, instructor, local_storage, django_capture_on_commit_callbacks
):
    body = upload(make_client(instructor), samples.pdf_bytes(1)).json()
    with django_capture_on_commit_callbacks(execute=True):
        response = site.post(f"/admin/media/mediaasset/{body['id']}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not MediaAsset.objects.exists()
    assert stored_files(local_storage) == []
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("deleted successfully" in m for m in messages)
