"""Smoke checks that the project is wired: liveness and a JSON 404 under /api/."""


def test_health_live(client):
    response = client.get("/health/live/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["X-Request-ID"]


def test_unknown_api_path_is_problem_json(client):
    response = client.get("/api/v1/nope/")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"
