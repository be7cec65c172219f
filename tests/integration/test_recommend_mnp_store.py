"""mnp-node-size on a stored estate: MNP jobs written as the collector writes them (a parent row and
`<parent>#<n>` node rows), the definition's raw `nodeProperties`, and the evidence's two `batchopt
simulate` runs (as is, and `--node-split`) reproducing the recorded costs."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from optimizer.cli.main import main
from optimizer.recommend.generate import generate_recommendations
from optimizer.recommend.strategies import MnpNodeSizeStrategy
from optimizer.store.engine import create_store_engine, upgrade
from tests.recommend_helpers import ACCOUNT, PREFIX, REGION, START, ce_item, queue_item, store_estate
from tests.unit.test_recommend_mnp import mnp_definition

GANGS = 12
NODES = 16


def stored_gangs() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(jobs, attempts) store rows of `GANGS` MNP jobs of `mpi` on `hpc`: 16 nodes of 6 vCPUs /
    12 GiB, one every 3 hours, each running 2 hours."""
    rows, tries = [], []
    for g in range(GANGS):
        created = START + timedelta(hours=3 * g)
        started, stopped = created + timedelta(minutes=4), created + timedelta(minutes=124)
        common = {
            "dataset": "aws",
            "account_id": ACCOUNT,
            "region": REGION,
            "job_name": f"mpi-{g}",
            "queue": "hpc",
            "job_queue_arn": f"{PREFIX}:job-queue/hpc",
            "job_definition": f"{PREFIX}:job-definition/mpi:3",
            "job_definition_name": "mpi",
            "status": "SUCCEEDED",
            "created_at": created,
            "started_at": started,
            "stopped_at": stopped,
            "vcpus": 6.0,
            "memory_mib": 12288,
            "gpus": 0,
            "is_multinode": True,
            "exit_code": 0,
            "attempt_count": 1,
        }
        rows.append({**common, "job_id": f"mpi-{g}", "node_count": NODES})
        for k in range(NODES):
            job_id = f"mpi-{g}#{k}"
            rows.append({**common, "job_id": job_id, "array_parent_id": f"mpi-{g}", "array_index": k})
            tries.append(
                {"job_id": job_id, "attempt": 0, "started_at": started, "stopped_at": stopped, "exit_code": 0}
            )
    return pd.DataFrame(rows), pd.DataFrame(tries).assign(is_spot_reclaim=False, is_oom=False)


def test_node_size_savings_reproduce_with_batchopt_simulate_node_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    jobs, attempts = stored_gangs()
    store_estate(
        engine,
        {
            "ces": [ce_item("hpc-od", strategy="BEST_FIT", types=("c6i", "m6i"), max_vcpus=1024)],
            "queues": [queue_item("hpc", "hpc-od")],
            "defs": [mnp_definition("mpi", NODES, 6, 12288)],
            "jobs": jobs,
            "attempts": attempts,
        },
    )
    [rec] = generate_recommendations(engine, strategies=[MnpNodeSizeStrategy()], seed=0, clock=time.monotonic)
    assert rec.strategy == "mnp-node-size" and rec.current["num_nodes"] == NODES
    assert rec.evidence["node_size"]["mnp_jobs"] == GANGS

    evidence = rec.evidence["replay"]
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    current = tmp_path / "current.json"
    current.write_text(json.dumps(evidence["current_config"]))
    totals = []
    for n, command in enumerate(evidence["commands"]):
        out = tmp_path / f"out{n}.json"
        args = [str(current) if a == "current.json" else a for a in command.split()[1:]]
        assert main([*args, "--out", str(out)]) == 0
        totals.append(json.loads(out.read_text())["total_cost_usd"])
    assert totals[0] == pytest.approx(evidence["current_cost_usd"], abs=1e-6)
    assert totals[1] == pytest.approx(evidence["proposed_cost_usd"], abs=1e-6)
    assert rec.monthly_savings_usd == pytest.approx(
        (totals[0] - totals[1]) * 30 / evidence["window_days"], abs=0.01
    )
    engine.dispose()
