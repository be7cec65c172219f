"""The trace formats `read_trace` understands; no imports, so the CLI's argument choices cost nothing."""

from __future__ import annotations

FORMATS: tuple[str, ...] = ("swf", "alibaba-gpu", "alibaba-pai-2020", "batch-json", "csv")
