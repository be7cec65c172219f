"""Upload files to S3 (the weekly report's S3 sink): the only S3 code, kept in `optimizer/aws/`.

`s3://bucket/prefix` plus each file's name gives its key; uploads use boto3's managed transfer
(multipart for large files, retries from the session factory's adaptive config).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from pathlib import Path

from optimizer.aws.permissions import declare, scope
from optimizer.aws.session import SessionFactory
from optimizer.config import Target
from optimizer.errors import ConfigError

# Multipart uploads (large files) also need these; AbortMultipartUpload cleans up a failed one.
declare("report", "s3:PutObject", "s3:AbortMultipartUpload")
# An SSE-KMS bucket: S3 asks KMS for a data key on every put and decrypts it to finish a multipart
# upload, with the caller's permissions, on the configured key only.
for _action in ("kms:GenerateDataKey", "kms:Decrypt"):
    scope("report", _action, resource_setting="report.s3_kms_key_arn")

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".png": "image/png",
}


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix/` -> ("bucket", "some/prefix"); the prefix may be empty."""
    if not uri.startswith("s3://"):
        raise ConfigError(f"report.s3_uri {uri!r}: must start with s3://")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ConfigError(f"report.s3_uri {uri!r}: no bucket name")
    return bucket, prefix.strip("/")


def content_type(path: Path) -> str:
    return (
        CONTENT_TYPES.get(path.suffix.lower())
        or mimetypes.guess_type(path.name)[0]
        or "application/octet-stream"
    )


def upload_files(
    session_factory: SessionFactory,
    target: Target,
    region: str,
    s3_uri: str,
    files: Sequence[Path],
    *,
    kms_key_arn: str | None = None,
) -> list[str]:
    """Upload `files` under `s3_uri`; returns the `s3://` URI of each object written.

    With `kms_key_arn` every object is written with SSE-KMS under that key (a bucket whose policy
    requires it refuses anything else)."""
    bucket, prefix = parse_s3_uri(s3_uri)
    client = session_factory.client("s3", target, region)
    written = []
    for path in files:
        key = f"{prefix}/{path.name}" if prefix else path.name
        extra = {"ContentType": content_type(path)}
        if kms_key_arn:
            extra.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key_arn)
        client.upload_file(str(path), bucket, key, ExtraArgs=extra)
        written.append(f"s3://{bucket}/{key}")
    return written
