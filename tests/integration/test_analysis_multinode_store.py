"""`batchopt analyze` on a stored MNP job: node attempts pay whole instances, rolled up and printed."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import Engine

from optimizer.analysis import stored
from optimizer.cli.main import main
from optimizer.store.schema import instance_types, instances, job_attempts, jobs, ondemand_prices, spot_prices
from optimizer.store.upsert import bulk_upsert
from tests import analysis_helpers as h
from tests.unit.test_analysis_multinode import _estate

pytestmark = pytest.mark.any_date


def test_analyze_reports_the_mnp_jobs_cost_and_gang_formation_idle(
    store_engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    inst, job_frame, attempts = _estate()
    job_frame = job_frame.assign(dataset="aws", status="SUCCEEDED")
    job_frame["node_count"] = pd.Series([2, None, None, None], dtype=object)
    attempts["exit_code"] = pd.Series([0, 0, 0], dtype=object)
    with store_engine.begin() as conn:
        bulk_upsert(conn, instance_types, h.instance_types())
        bulk_upsert(conn, ondemand_prices, h.ondemand())
        bulk_upsert(conn, spot_prices, h.spot_prices())
        bulk_upsert(conn, instances, inst.assign(dataset="aws"))
        bulk_upsert(conn, jobs, job_frame)
        bulk_upsert(conn, job_attempts, attempts)
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", store_engine.url.render_as_string(hide_password=False))
    assert main(["analyze"]) == 0
    out = capsys.readouterr().out
    # 2 nodes x 2 h x $0.192 (whole m5.xlarge each); i-n0 held 1 h before the gang started
    assert "multi-node parallel: 1 jobs, nodes' cost $0.77, gang-formation idle $0.19" in out
    # The run keeps the figures, which the Cost explorer reads (`dashboard/queries/cost.mnp_figures`).
    jobs_seen, cost, forming = stored.latest_mnp_figures(store_engine)
    assert (jobs_seen, round(cost, 2), round(forming, 2)) == (1, 0.77, 0.19)
