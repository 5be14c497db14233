"""moto's standalone S3 server on 127.0.0.1 (a real HTTP S3 endpoint in a thread), and the environment that
points s3fs at it (credentials through the environment only, as a user would set them)."""

from __future__ import annotations

import contextlib
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.helpers.distributed import free_port

ACCESS_KEY = "testing-key"
SECRET_KEY = "testing-secret"


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """Start the server; yield its endpoint URL (http://127.0.0.1:PORT)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_environment(endpoint: str, *, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> dict[str, str]:
    """What a user exports to reach an S3-compatible store: keys, region, and fsspec's endpoint option."""
    return {
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "FSSPEC_S3_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_S3": endpoint,
    }


@contextlib.contextmanager
def s3_env(endpoint: str, **keys: str) -> Iterator[None]:
    """The S3 environment in this process (fsspec reads FSSPEC_* when it is imported: its config is updated too)."""
    import fsspec.config

    saved = dict(os.environ)
    os.environ.update(s3_environment(endpoint, **keys))
    previous = fsspec.config.conf.get("s3")
    fsspec.config.conf["s3"] = {"endpoint_url": endpoint}
    _clear_instances()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        if previous is None:
            fsspec.config.conf.pop("s3", None)
        else:
            fsspec.config.conf["s3"] = previous
        _clear_instances()


def _clear_instances() -> None:
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


def make_bucket(endpoint: str, bucket: str) -> None:
    import boto3  # moto depends on boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=bucket)


def upload_folder(endpoint: str, folder: Path, url: str) -> None:
    """Copy every file of ``folder`` to the prefix ``url`` (s3://bucket/prefix)."""
    import boto3

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder)}".lstrip("/"))


def list_keys(endpoint: str, bucket: str) -> list[str]:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def enforce_credentials(endpoint: str, *, allow: bool = False) -> None:
    """From now on the server refuses any access key it does not know (moto's IAM check; a process-wide
    setting of moto, so ``allow=True`` turns it off again)."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=b"inf" if allow else b"0",
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(request, timeout=10).read()
