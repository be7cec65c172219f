"""Driving the real dashboard: `batchopt dashboard` on a free 127.0.0.1 port, and headless Chromium.

Shared by the end-to-end test and `benchmarks/dashboard.py`, so both measure the same thing: a page
counts as rendered when its title is in the main area and Streamlit's running indicator is gone.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from optimizer.runtime.browser import CHROMIUM_ARGS, DEBIAN_CHROMIUM

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = DEBIAN_CHROMIUM
TITLE = '[data-testid="stMain"] h1'
IDLE_APP = '[data-testid="stApp"][data-test-script-state="notRunning"]'
"""Streamlit marks its root with the script's run state; `notRunning` once a run has finished."""
SKELETONS = '[data-testid="stSkeleton"], [data-testid="stSkeletonElement"], [data-testid="stAppSkeleton"]'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def dashboard_server(env: Mapping[str, str], *, startup_seconds: float = 90.0) -> Iterator[str]:
    """`batchopt dashboard --port <free>` with `env`; yields its base URL, stops it afterwards."""
    port = free_port()
    full_env = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    (REPO / "test-artifacts").mkdir(exist_ok=True)
    log = open(REPO / "test-artifacts" / f"streamlit-{port}.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "optimizer", "dashboard", "--host", "127.0.0.1", "--port", str(port)],
        env=full_env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"dashboard exited with {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"dashboard did not answer within {startup_seconds:.0f} s; see {log.name}")
            time.sleep(0.3)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


@contextmanager
def chromium_page(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def wait_rendered(page: Any, title: str, timeout_ms: float = 60_000) -> None:
    """Until the page's title is shown, Streamlit reports its script run finished, and no element is
    still a loading placeholder (widgets and charts load their code lazily and show skeletons)."""
    page.locator(TITLE, has_text=title).first.wait_for(state="visible", timeout=timeout_ms)
    page.locator(IDLE_APP).wait_for(state="attached", timeout=timeout_ms)
    page.wait_for_function(f"() => !document.querySelector('{SKELETONS}')", timeout=timeout_ms)


def click_button(page: Any, name: str, timeout_ms: float = 60_000) -> None:
    """Click the button `name` once the page shows exactly one: during a rerun Streamlit keeps the
    last run's elements (stale) beside the new ones, and a click found both (CI, 2026-12-06: a
    "Dry run" button twice after the apply secret's Enter started a rerun)."""
    from playwright.sync_api import expect

    button = page.get_by_role("button", name=name, exact=True)
    expect(button).to_have_count(1, timeout=timeout_ms)
    button.click()
