"""`<workdir>/demo.env`: what a second shell sources to point the CLI at the running demo.

The demo's store and emulator live only while `batchopt demo` runs; the CLI finds them through
the same settings the dashboard subprocess gets (store URL, emulator endpoint, region) plus the
demo's throwaway credentials, so no real AWS credential or profile of the user is ever used by a
command run against the demo. Paths are absolute, so the file works from any directory.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

CLEARED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL")


def absolute_database_url(url: str) -> str:
    """A relative SQLite path made absolute (other URLs unchanged)."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        return prefix + str(Path(url[len(prefix) :]).resolve())
    return url


def demo_env_lines(
    *,
    database_url: str,
    endpoint_url: str,
    region: str,
    credentials: Mapping[str, str],
    models_dir: Path,
    extra: Mapping[str, str] | None = None,
) -> list[str]:
    values = {
        "BATCHOPT_DATABASE_URL": absolute_database_url(database_url),
        "BATCHOPT_AWS_ENDPOINT_URL": endpoint_url,
        "BATCHOPT_REGIONS": region,
        "BATCHOPT_MODELS_DIR": str(models_dir.resolve()),
        **credentials,
        **(extra or {}),
    }
    lines = ["# batchopt demo: source this file in another shell while the demo runs"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in values.items()]
    lines.append("unset " + " ".join(CLEARED))
    return lines


def write_demo_env(
    path: Path,
    *,
    database_url: str,
    endpoint_url: str,
    region: str,
    credentials: Mapping[str, str],
    models_dir: Path,
    extra: Mapping[str, str] | None = None,
) -> Path:
    """Write the file (replacing a previous run's) and return its absolute path; `extra` holds
    further settings the demo gives its dashboard too (the apply allow-list of its own estate)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = demo_env_lines(
        database_url=database_url,
        endpoint_url=endpoint_url,
        region=region,
        credentials=credentials,
        models_dir=models_dir,
        extra=extra,
    )
    tmp = path.with_suffix(".env.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    return path.resolve()
