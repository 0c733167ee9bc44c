"""A stub of the Mux API on loopback, an RSA signing key, and Mux settings for tests.

The stub (http.server in a thread on 127.0.0.1) stands in for api.mux.com: it records every
request and checks the create-upload call's method, path, Basic auth header and JSON body,
answering like Mux does (or with `fail_with`).
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

TOKEN_ID = "mux-token-id"
TOKEN_SECRET = "mux-token-secret"
SIGNING_KEY_ID = "signing-key-id"
WEBHOOK_SECRET = "whsec-test"


class MuxStub:
    """A stand-in for api.mux.com: records each request and answers like Mux does."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.problems: list[str] = []
        self.fail_with: int | None = None
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                stub.requests.append(
                    {"method": "POST", "path": self.path, "headers": dict(self.headers), "raw": raw}
                )
                status, body = stub.answer(self.path, self.headers, raw)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self):
                stub.requests.append({"method": "GET", "path": self.path})
                self.send_response(404)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path, headers, raw):
        if self.fail_with:
            return self.fail_with, {"error": {"type": "server_error", "messages": ["boom"]}}
        expected_auth = "Basic " + base64.b64encode(f"{TOKEN_ID}:{TOKEN_SECRET}".encode()).decode()
        if path != "/video/v1/uploads":
            self.problems.append(f"unexpected path {path}")
            return 404, {"error": {"type": "not_found"}}
        if headers.get("Authorization") != expected_auth:
            self.problems.append("bad auth header")
            return 401, {"error": {"type": "unauthorized"}}
        if not (headers.get("Content-Type") or "").startswith("application/json"):
            self.problems.append("not JSON")
            return 400, {"error": {"type": "invalid_parameters"}}
        body = json.loads(raw)
        settings = body.get("new_asset_settings") or {}
        if settings.get("playback_policy") != ["signed"] or not body.get("cors_origin"):
            self.problems.append(f"unexpected body {body}")
            return 400, {"error": {"type": "invalid_parameters"}}
        return 201, {
            "data": {
                "id": "upload-abc123",
                "url": "https://storage.googleapis.com/video-storage-us-east1-uploads/abc?sig=x",
                "timeout": body.get("timeout", 3600),
                "status": "waiting",
                "cors_origin": body["cors_origin"],
                "new_asset_settings": settings,
            }
        }

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def rsa_private_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def configure_mux(settings, pem: bytes, *, api_url: str = "http://127.0.0.1:9") -> None:
    """Switch Mux on in Django settings (a pytest-django `settings` fixture)."""
    settings.MUX_TOKEN_ID = TOKEN_ID
    settings.MUX_TOKEN_SECRET = TOKEN_SECRET
    settings.MUX_SIGNING_KEY_ID = SIGNING_KEY_ID
    settings.MUX_SIGNING_PRIVATE_KEY = base64.b64encode(pem).decode()
    settings.MUX_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.MUX_PLAYBACK_TTL = 10
    settings.MUX_CORS_ORIGIN = "https://learn.example"
    settings.MUX_API_BASE_URL = api_url
    settings.MUX_ENABLED = True
