"""Optional PDF of the HTML report, printed by headless Chromium through Playwright.

Chromium prints the very HTML the email shows (same charts, same tables), so the PDF needs no
second layout. Playwright is not a runtime dependency: without it, or without a browser, asking
for a PDF is a clear configuration error and the other formats are unaffected.
"""

from __future__ import annotations

from optimizer.errors import ConfigError
from optimizer.runtime.browser import CHROMIUM_ARGS, find_chromium


def html_to_pdf(html: str, chromium_path: str | None = None) -> bytes:
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ConfigError("--pdf: needs the playwright package (pip install playwright)") from None
    executable = chromium_path or find_chromium()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.set_content(html, wait_until="load")
                return page.pdf(format="A4", print_background=True, margin={"top": "12mm", "bottom": "12mm"})
            finally:
                browser.close()
    except PlaywrightError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"--pdf: Chromium could not print the report: {first}") from None
