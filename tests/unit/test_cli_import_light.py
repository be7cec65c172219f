"""`batchopt --help` must not pay for the heavy libraries: command modules import them in their handlers.

Building the parser imports every `optimizer/cli/cmd_*.py`; if one of them (or a constant its
`register()` reads) imports pandas, scikit-learn, OR-Tools... at module level, every `--help` and
every command waits seconds for it. A fresh interpreter is the only way to see what got imported.
"""

import subprocess
import sys
from pathlib import Path

import optimizer

HEAVY = (
    "alembic",
    "apscheduler",
    "boto3",
    "botocore",
    "duckdb",
    "matplotlib",
    "numba",
    "numpy",
    "ortools",
    "pandas",
    "plotly",
    "pyarrow",
    "pydantic",
    "rich",
    "scipy",
    "sklearn",
    "sqlglot",
    "sqlalchemy",
    "streamlit",
)


def test_building_the_parser_imports_no_heavy_package() -> None:
    code = (
        "import sys\n"
        "from optimizer.cli.main import build_parser\n"
        "build_parser()\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    # Run next to the package the tests import, so the child sees the same code.
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(optimizer.__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == "[]", f"imported while building the parser: {proc.stdout.strip()}"
