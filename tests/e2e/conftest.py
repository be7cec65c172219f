"""One `batchopt demo --headless` run shared by the demo's end-to-end tests.

The default demo (30 days of history, the product's main job) takes minutes; each test that needs it
used to run its own (a 10-day and a 30-day run). The tests only read what the run left (its output,
summary JSON, store and reports), so one run serves all of them: the fixture is session-scoped, and
the tests that use it are in xdist group "demo", so they land on one worker and it runs once per
suite (`tests/xdist_groups.py` keeps that grouping working on pytest 9.2).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import pytest

from optimizer.cli.main import main
from tests.demo_helpers import HeadlessDemo
from tests.isolation import isolate_from_real_aws


@pytest.fixture(scope="session")
def headless_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadlessDemo]:
    """`batchopt demo --headless` with its defaults, the store configured through
    `BATCHOPT_DATABASE_URL` (so the summary must name that store, not a fresh default file).

    Isolated like every test (`tests/isolation.py`): it runs before any per-test fixture does."""
    root = tmp_path_factory.mktemp("headless-demo")
    url = f"sqlite:///{root / 'demo.db'}"
    summary_file = root / "summary.json"
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(printed):
        isolate_from_real_aws(mp)
        mp.setenv("BATCHOPT_DATABASE_URL", url)
        code = main(
            ["demo", "--headless", "--workdir", str(root / "var"), "--summary-json", str(summary_file)]
        )
    yield HeadlessDemo(url, root / "var", summary_file, code, printed.getvalue())
