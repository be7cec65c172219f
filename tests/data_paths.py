"""Where tests find data: recorded AWS responses in the repo, real traces and prices in shared/data.

CI clones the repo with `shared/` beside it (`../shared/data`); `BATCHOPT_SHARED_DATA` overrides.
A missing folder is a failure with a clear message, never a silent skip.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "tests" / "fixtures"
AWS_FIXTURES = FIXTURES / "aws"


def shared_data() -> Path:
    override = os.environ.get("BATCHOPT_SHARED_DATA")
    candidates = [Path(override)] if override else []
    candidates += [REPO_ROOT.parent / "shared" / "data", Path("/work/shared/data")]
    for path in candidates:
        if (path / "README.md").is_file():
            return path
    raise FileNotFoundError(
        "shared reference data not found: set BATCHOPT_SHARED_DATA or place shared/data beside the repo"
    )


def shared(*parts: str) -> Path:
    path = shared_data().joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"shared data file missing: {path}")
    return path
