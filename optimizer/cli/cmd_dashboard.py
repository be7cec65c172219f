"""`batchopt dashboard [--host H] [--port P]`: serve the Streamlit dashboard from the installed package.

Binds `settings.dashboard.host` (127.0.0.1 by default: the dashboard can apply changes, so exposing it
is a deliberate choice, e.g. `--host 0.0.0.0` in the container). Streamlit runs as a child process
with the same environment, so the dashboard loads the same settings and store as this command.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

from optimizer.cli.context import CliContext
from optimizer.dashboard.serve.command import streamlit_command


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dashboard", help="serve the Streamlit dashboard (127.0.0.1:8501 by default)")
    parser.add_argument("--host", help="address to bind (default: settings.dashboard.host, 127.0.0.1)")
    parser.add_argument("--port", type=_port, help="port (default: settings.dashboard.port, 8501)")
    parser.set_defaults(handler=run)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not between 1 and 65535")
    return port


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    settings = ctx.settings
    ctx.engine  # noqa: B018  (fail now, with one line, if the store is not migrated)
    host = args.host or settings.dashboard.host
    port = args.port or settings.dashboard.port
    env = dict(os.environ)
    if ctx.config_file:
        env["BATCHOPT_CONFIG"] = str(Path(ctx.config_file).resolve())
    print(f"dashboard: http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        return subprocess.call(streamlit_command(host, port), env=env)
    except KeyboardInterrupt:
        return 130
