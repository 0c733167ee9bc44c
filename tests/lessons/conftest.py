import pytest

from tests.courses.world import build_world


@pytest.fixture
def world(student, instructor, other_instructor, admin_user, make_client):
    return build_world(
        student=student,
        instructor=instructor,
        other_instructor=other_instructor,
        admin_user=admin_user,
        make_client=make_client,
    )
