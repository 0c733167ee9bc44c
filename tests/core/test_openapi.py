"""The OpenAPI schema and its two documentation pages, with locally served assets.

Real parts: drf-spectacular generating the schema from every installed app's views, its
`spectacular --validate --fail-on-warn` command (OpenAPI 3 JSON-schema validation), the Swagger
UI and Redoc pages, and the static files served by WhiteNoise through the middleware stack.
"""

from __future__ import annotations

import json
import re

import pytest
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


def test_schema_is_served_and_documents_bearer_jwt():
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "EduFlow API"
    scheme = schema["components"]["securitySchemes"]["jwtAuth"]
    assert scheme == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    me = schema["paths"]["/api/v1/auth/me/"]["get"]
    assert {"jwtAuth": []} in me["security"]
    login = schema["paths"]["/api/v1/auth/login/"]["post"]
    assert "jwtAuth" not in json.dumps(login.get("security", []))


def test_schema_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    # Raises (SystemExit/CommandError) on a warning or an invalid schema.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert target.read_text().startswith("openapi: 3")


def test_user_schema_has_no_secret_fields():
    schema = Client().get("/api/schema/", {"format": "json"}).json()
    user = schema["components"]["schemas"]["User"]
    assert "password" not in user["properties"]
    assert "tokens_valid_after" not in user["properties"]


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_use_only_local_assets(url):
    client = Client()
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "http://" not in html
    assert "https://" not in html
    assets = [ref for ref in ASSET.findall(html) if ref.startswith("/static/")]
    assert any(ref.endswith(".js") for ref in assets), assets
    for ref in assets:
        served = client.get(ref)
        assert served.status_code == 200, ref
        assert b"".join(served.streaming_content if served.streaming else [served.content])
    assert "/api/schema/" in html
