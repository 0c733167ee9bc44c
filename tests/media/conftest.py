"""Shared media fixtures: storage backends and the S3-compatible server.

`s3_server` starts moto in server mode: a real S3-compatible HTTP server on loopback (one per
test session), so django-storages and boto3 talk real HTTP, presigned URLs included. Nothing is
mocked inside the process. `s3_storage` points Django's default storage (and so every FileField)
at a fresh bucket on that server; `local_storage` points MEDIA_ROOT at a temporary directory.
"""

from __future__ import annotations

import logging
import shutil
import uuid

import boto3
import pytest
from botocore.config import Config
from django.core.files.storage import default_storage

S3_ACCESS_KEY = "testing-access-key"
S3_SECRET_KEY = "testing-secret-key"
S3_REGION = "us-east-1"


@pytest.fixture(scope="session")
def s3_server():
    """Endpoint URL of a moto S3 server on 127.0.0.1 (random free port), stopped at the end."""
    from moto.server import ThreadedMotoServer

    # One access-log line per S3 call would drown the test output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_client(endpoint_url: str):
    """A boto3 client for the moto server (path-style addressing, SigV4)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
        region_name=S3_REGION,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


class S3Bucket:
    """The bucket a test writes to, with helpers to look at what really landed in it."""

    def __init__(self, endpoint_url: str, name: str) -> None:
        self.endpoint_url = endpoint_url
        self.name = name
        self.client = s3_client(endpoint_url)

    def keys(self, prefix: str = "") -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.name, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()


@pytest.fixture
def s3_storage(s3_server, settings):
    """Default storage = django-storages S3Storage on a fresh bucket of the moto server.

    Changing STORAGES makes Django rebuild `default_storage`, and FileFields resolve their storage
    through it, so model files land in the bucket. Yields an `S3Bucket`.
    """
    bucket = S3Bucket(s3_server, f"eduflow-test-{uuid.uuid4().hex[:12]}")
    bucket.client.create_bucket(Bucket=bucket.name)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket.name,
                "endpoint_url": s3_server,
                "access_key": S3_ACCESS_KEY,
                "secret_key": S3_SECRET_KEY,
                "region_name": S3_REGION,
                "signature_version": "s3v4",
                "addressing_style": "path",
                "querystring_auth": True,
                "file_overwrite": True,
            },
        },
    }
    assert default_storage.__class__.__name__ != "FileSystemStorage"
    yield bucket


@pytest.fixture
def local_storage(settings, tmp_path):
    """Default storage = FileSystemStorage under a per-test MEDIA_ROOT. Yields that directory."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    yield root
    shutil.rmtree(root, ignore_errors=True)
