"""The S3 sink: the same files as the directory sink, under `<s3_uri>/<week>/`.

It never imports boto3: the upload lives in `optimizer.aws.s3`, behind the session factory.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from optimizer.aws.s3 import upload_files
from optimizer.aws.session import SessionFactory
from optimizer.config import Target
from optimizer.report.render import RenderedReport
from optimizer.report.sinks import write_files


@dataclass
class S3Sink:
    sessions: SessionFactory
    target: Target
    region: str
    s3_uri: str
    name: str = "s3"
    kms_key_arn: str | None = None

    def deliver(self, rendered: RenderedReport) -> str:
        destination = f"{self.s3_uri.rstrip('/')}/{rendered.report.week.label}"
        with tempfile.TemporaryDirectory(prefix="batchopt-report-") as tmp:
            paths = write_files(Path(tmp), rendered.files)
            uris = upload_files(
                self.sessions, self.target, self.region, destination, paths, kms_key_arn=self.kms_key_arn
            )
        return f"uploaded {len(uris)} files to {destination}/"
