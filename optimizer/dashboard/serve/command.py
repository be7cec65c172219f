"""The `streamlit run` command line that serves the dashboard.

It lives with the dashboard because it names the dashboard's own entry script; `batchopt dashboard`
and the demo (which serves the dashboard on its emulator) both start Streamlit with it, so the demo
needs nothing from the CLI layer above it.
"""

from __future__ import annotations

import sys
from pathlib import Path

ENTRY = Path(__file__).resolve().parent / "streamlit_app.py"


def streamlit_command(host: str, port: int) -> list[str]:
    """The exact `streamlit run` command line: headless, no usage statistics, no file watcher, and the
    viewer toolbar (people using the product get no developer menu or "Deploy" button)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ENTRY),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "viewer",
    ]
