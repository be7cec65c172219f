"""Headless Chromium settings shared by everything that drives a browser (PDF report, browser tests).

The flags keep a headless Chromium from reaching out to the network (updates, sync, background
services) and let it run as root in a container.
"""

from __future__ import annotations

import shutil

DEBIAN_CHROMIUM = "/usr/bin/chromium"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def find_chromium() -> str | None:
    """A system Chromium if there is one (else Playwright's own browser is tried)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None
