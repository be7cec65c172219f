"""A CUR 2.0 export as AWS Data Exports delivers it to S3, read month by month through its manifests.

Layout (AWS Data Exports, "Understanding export delivery" and "Data Exports manifest file
reference"):

    <prefix>/<export>/data/BILLING_PERIOD=YYYY-MM/[<execution-id>/]<export>-<part>.<ext>
    <prefix>/<export>/metadata/BILLING_PERIOD=YYYY-MM/[<execution-id>/]<export>-Manifest.json

The manifest is written after every data file of an execution, and its `dataFiles` (full S3 URIs)
is the list of files of that month's current version; other manifest fields (`executionId`,
`exportArn`, `columns`, ...) are not needed here. AWS refreshes the current month at least daily
and may restate a closed month for a while: in "overwrite" mode by rewriting the manifest, in
"create new" mode by adding one under a new execution id. Either way the newest manifest of a month
(by LastModified) names its current files, and a manifest whose key, ETag or time changed means the
month changed.

`pending_months` lists the manifests and says which differ from what was imported; `import_months`
reads those manifests, downloads their data files into a temporary folder under `billing.data_dir`
and hands them to `optimizer.billing.intake.import_bill` in one call, which replaces each month
whole (Parquet file and store aggregates) or nothing. Every manifest and file is read before the
import starts, so a malformed manifest or a missing data file stops the run with one line naming
the S3 key, and the store and the Parquet months are left as they were. Read-only on S3:
ListObjectsV2 and GetObject.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from optimizer.aws.calls import call, error_code, pages
from optimizer.billing.intake import ImportResult, import_bill
from optimizer.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy import Engine

MANIFEST_KEY = re.compile(
    r"^(?:.*/)?(?P<export>[^/]+)/metadata/BILLING_PERIOD=(?P<month>\d{4}-\d{2})/(?:[^/]+/)?(?P=export)-Manifest\.json$"
)
S3_URI = re.compile(r"^s3://(?P<bucket>[^/]+)/(?P<key>.+)$")
INCOMING = ".incoming"
"""Folder under `billing.data_dir` where a run downloads the export's files (removed after)."""


@dataclass(frozen=True)
class Manifest:
    """The newest manifest of one billing month of the export."""

    export: str
    month: str  # YYYY-MM
    bucket: str
    key: str
    etag: str
    last_modified: datetime  # naive UTC

    @property
    def scope(self) -> str:
        """The collector watermark scope of this month."""
        return f"{self.export}/BILLING_PERIOD={self.month}"

    @property
    def version(self) -> str:
        """What identifies this version of the month: the manifest's time, ETag and key."""
        return f"{self.last_modified.isoformat(timespec='milliseconds')}|{self.etag}|{self.key}"

    def watermark(self, imported_at: datetime) -> str:
        """The month's watermark value: when it was imported, then which version. Starting with the
        import time keeps it increasing from run to run (the runner keeps the larger of the old and
        the new value), even for two versions of one month written in the same second."""
        return f"{imported_at.isoformat(timespec='milliseconds')}|{self.version}"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def split_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/prefix` -> (bucket, prefix without a trailing slash)."""
    match = re.fullmatch(r"s3://([^/]+)/?(.*)", uri or "")
    if not match:
        raise InputError(f"billing.cur_s3_uri {uri!r}: expected s3://BUCKET/PREFIX")
    return match.group(1), match.group(2).strip("/")


def list_manifests(s3: Any, uri: str) -> list[Manifest]:
    """The newest manifest of every month of the one export under `uri` (sorted by month)."""
    bucket, prefix = split_uri(uri)
    newest: dict[tuple[str, str], Manifest] = {}
    params: dict[str, Any] = {"Bucket": bucket}
    if prefix:
        params["Prefix"] = prefix + "/"
    listing = pages(
        s3, "list_objects_v2", token_in="ContinuationToken", token_out="NextContinuationToken", **params
    )
    for page in listing:
        for item in page.get("Contents", []):
            match = MANIFEST_KEY.match(item["Key"])
            if not match:
                continue
            found = Manifest(
                export=match["export"],
                month=match["month"],
                bucket=bucket,
                key=item["Key"],
                etag=str(item.get("ETag", "")).strip('"'),
                last_modified=_naive_utc(item["LastModified"]),
            )
            held = newest.get((found.export, found.month))
            if held is None or (found.last_modified, found.key) > (held.last_modified, held.key):
                newest[(found.export, found.month)] = found
    exports = sorted({export for export, _ in newest})
    if len(exports) > 1:
        raise InputError(
            f"billing.cur_s3_uri {uri}: holds {len(exports)} exports ({', '.join(exports)}); "
            "point it at one (s3://BUCKET/PREFIX/EXPORT)"
        )
    return sorted(newest.values(), key=lambda m: m.month)


def pending_months(
    manifests: Sequence[Manifest], imported: Mapping[str, str], stored_months: set[str]
) -> list[Manifest]:
    """The manifests to import: new, changed since `imported` (scope -> watermark value), or of a
    month the store no longer holds."""
    return [
        m
        for m in manifests
        if imported.get(m.scope, "").partition("|")[2] != m.version or m.month not in stored_months
    ]


def read_manifest(s3: Any, manifest: Manifest) -> list[tuple[str, str]]:
    """The (bucket, key) of every data file the manifest lists; InputError naming the key if the
    manifest cannot be used."""
    body = _get(s3, manifest.bucket, manifest.key, manifest.uri).read()
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{manifest.uri}: not a Data Exports manifest (not JSON: {exc})") from None
    if not isinstance(document, dict):
        raise InputError(f"{manifest.uri}: not a Data Exports manifest (a JSON object was expected)")
    files = document.get("dataFiles")
    if not isinstance(files, list) or not files:
        raise InputError(f"{manifest.uri}: dataFiles: expected a non-empty list of s3:// URIs")
    out: list[tuple[str, str]] = []
    for i, value in enumerate(files):
        match = S3_URI.match(value) if isinstance(value, str) else None
        if not match:
            raise InputError(f"{manifest.uri}: dataFiles[{i}]: {value!r} is not an s3:// URI")
        out.append((match["bucket"], match["key"]))
    return out


def download(s3: Any, manifest: Manifest, files: Sequence[tuple[str, str]], into: Path) -> list[Path]:
    """The manifest's data files copied into `into` (kept apart per manifest, names as in S3)."""
    folder = into / manifest.month
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (bucket, key) in enumerate(files):
        path = folder / f"{i:05d}-{key.rsplit('/', 1)[-1]}"
        body = _get(s3, bucket, key, f"{manifest.uri}: data file s3://{bucket}/{key}")
        with path.open("wb") as out:
            shutil.copyfileobj(body, out, 1 << 20)
        paths.append(path)
    return paths


def import_months(
    engine: Engine,
    s3: Any,
    pending: Sequence[Manifest],
    *,
    data_dir: str | Path,
    imported_at: datetime,
) -> tuple[ImportResult | None, int]:
    """Read the pending manifests, download their files and import them all in one `import_bill`
    (all months replaced or none); returns its result and the number of data files read."""
    if not pending:
        return None, 0
    data_dir = Path(data_dir)
    (data_dir / INCOMING).mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="cur2-", dir=data_dir / INCOMING))
    try:
        origin: dict[Path, str] = {}
        for manifest in pending:
            listed = read_manifest(s3, manifest)
            for path, (bucket, key) in zip(download(s3, manifest, listed, workdir), listed, strict=True):
                origin[path] = f"s3://{bucket}/{key}"
        try:
            result = import_bill(engine, list(origin), "cur2", data_dir=data_dir, imported_at=imported_at)
        except InputError as exc:  # name the file as the export does, not its temporary copy
            message = str(exc)
            for path, uri in origin.items():
                message = message.replace(str(path), uri).replace(path.name, uri)
            raise InputError(message) from None
        return result, len(origin)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def stored_months(engine: Engine) -> set[str]:
    """The billing months (YYYY-MM) the store holds a bill for."""
    from sqlalchemy import select

    from optimizer.store.tables.billing import bill_months

    with engine.connect() as conn:
        periods = conn.execute(select(bill_months.c.billing_period)).scalars().all()
    return {f"{_naive_utc(p):%Y-%m}" for p in periods}


def _get(s3: Any, bucket: str, key: str, what: str) -> Any:
    try:
        return call(s3, "get_object", Bucket=bucket, Key=key)["Body"]
    except ClientError as exc:
        code = error_code(exc)
        if code in ("NoSuchKey", "404", "NotFound"):
            raise InputError(f"{what}: missing (NoSuchKey)") from None
        raise


def _naive_utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value
