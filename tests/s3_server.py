"""A real S3-compatible HTTP server on loopback for the storage tests: moto's standalone server.

Nothing is patched: django-storages and boto3 talk HTTP to this server exactly as they
would to AWS or MinIO. Needs `moto[server]` (requirements-dev.txt).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

ACCESS_KEY = SECRET_KEY = "testing"
REGION = "us-east-1"


def missing_dependency() -> str:
    """Why the S3 tests cannot run here ("" when they can)."""
    try:
        import boto3  # noqa: F401  (django-storages' S3 backend needs it)
        from moto.server import ThreadedMotoServer  # noqa: F401
    except ImportError as exc:
        return f"{exc}; install requirements-dev.txt (moto[server], boto3)"
    return ""


@contextmanager
def running_s3_server() -> Iterator[str]:
    """Start moto's server on 127.0.0.1 on a free port; yield its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass
class Bucket:
    """One bucket on the server, with a boto3 client of its own to look inside it."""

    name: str
    endpoint_url: str
    client: Any

    @classmethod
    def create(cls, endpoint_url: str) -> Bucket:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )
        name = f"blogimages-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=name)
        return cls(name=name, endpoint_url=endpoint_url, client=client)

    def storage_options(self, **overrides: Any) -> dict[str, Any]:
        """OPTIONS for the S3 storage (`blogimages.s3_storage.S3MediaStorage`), as config/settings.py builds them."""
        return {
            "bucket_name": self.name,
            "endpoint_url": self.endpoint_url,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "region_name": REGION,
            "file_overwrite": False,
            "querystring_auth": True,
            **overrides,
        }

    def keys(self) -> list[str]:
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name):
            keys += [entry["Key"] for entry in page.get("Contents", ())]
        return sorted(keys)

    def get(self, key: str) -> tuple[bytes, str]:
        """The object's bytes and Content-Type."""
        response = self.client.get_object(Bucket=self.name, Key=key)
        return response["Body"].read(), response["ContentType"]

    def destroy(self) -> None:
        for key in self.keys():
            self.client.delete_object(Bucket=self.name, Key=key)
        self.client.delete_bucket(Bucket=self.name)
