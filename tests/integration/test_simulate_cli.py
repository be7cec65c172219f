"""`batchopt import-trace` and `batchopt simulate` end to end on a SQLite store."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from optimizer.cli.main import main
from optimizer.store.engine import create_store_engine
from optimizer.store.schema import datasets, instances, job_attempts, jobs
from tests.data_paths import shared

KTH = "traces/KTH-SP2-1996-2.1-cln.swf.gz"


def _config(
    path: Path, ce_type: str, max_vcpus: int, strategy: str, types: tuple[str, ...] = ("m5", "c5")
) -> Path:
    document = {
        "computeEnvironments": [
            {
                "computeEnvironmentName": "ce",
                "type": "MANAGED",
                "computeResources": {
                    "type": ce_type,
                    "allocationStrategy": strategy,
                    "minvCpus": 0,
                    "maxvCpus": max_vcpus,
                    "instanceTypes": list(types),
                },
            }
        ],
        "jobQueues": [
            {
                "jobQueueName": "main",
                "priority": 1,
                "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "ce"}],
            }
        ],
    }
    path.write_text(json.dumps(document))
    return path


def _small_trace(tmp_path: Path, n: int = 300) -> Path:
    """The first `n` KTH jobs, as a plain SWF file (header kept)."""
    lines = gzip.decompress(shared(KTH).read_bytes()).decode().splitlines()
    header = [line for line in lines if line.startswith(";")]
    body = [line for line in lines if not line.startswith(";")][:n]
    path = tmp_path / "kth-small.swf"
    path.write_text("\n".join(header + body) + "\n")
    return path


def _count(url: str, table: object, **where: str) -> int:
    engine = create_store_engine(url)
    query = select(func.count()).select_from(table)  # type: ignore[arg-type]
    for column, value in where.items():
        query = query.where(table.c[column] == value)  # type: ignore[attr-defined]
    with engine.connect() as conn:
        count = int(conn.execute(query).scalar_one())
    engine.dispose()
    return count


def test_import_then_simulate_from_the_store(
    cli_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = _small_trace(tmp_path)
    assert main(["import-trace", "--format", "swf", "--dataset", "kth", str(trace)]) == 0
    printed = capsys.readouterr().out
    # 5 of the 300 jobs ask for more than 64 processors: each is a parent and 2 node jobs.
    assert "dataset kth: 310 jobs imported" in printed
    assert "multi-node parallel: 5 jobs over 64 vCPUs stored as parent + 10 node jobs" in printed
    assert "time zero: 1996-09-23 12:00:31 UTC (the file's start time)" in printed
    assert _count(cli_store, jobs, dataset="kth") == 310 and _count(cli_store, datasets) == 1

    config = _config(tmp_path / "spot.json", "SPOT", 128, "SPOT_PRICE_CAPACITY_OPTIMIZED")
    out, jobs_out = tmp_path / "result.json", tmp_path / "jobs.csv"
    code = main(
        [
            "simulate",
            "--dataset",
            "kth",
            "--config",
            str(config),
            "--out",
            str(out),
            "--jobs-out",
            str(jobs_out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "total cost" in printed and "wait main p95" in printed
    mnp_line = next(line for line in printed.splitlines() if line.startswith("MNP jobs (node jobs)"))
    assert mnp_line.split()[-2:] == ["5", "(10)"]
    assert any(line.startswith("gang-formation idle") for line in printed.splitlines())
    result = json.loads(out.read_text())
    assert result["total_cost_usd"] > 0 and result["jobs"] == 305  # node jobs, not their parents
    rows = pd.read_csv(jobs_out)
    for column in (
        "job_id",
        "submitted_at",
        "started_at",
        "ended_at",
        "instance_id",
        "instance_type",
        "capacity_type",
        "status",
    ):
        assert column in rows.columns
    assert set(rows["capacity_type"].dropna()) == {"SPOT"}

    # The same history straight from the file replays identically.
    again = tmp_path / "again.json"
    assert (
        main(
            [
                "simulate",
                "--trace",
                str(trace),
                "--format",
                "swf",
                "--config",
                str(config),
                "--out",
                str(again),
            ]
        )
        == 0
    )
    assert json.loads(again.read_text())["total_cost_usd"] == result["total_cost_usd"]

    # Stored as a dataset of its own, the replay reads like collected history.
    assert main(["simulate", "--dataset", "kth", "--config", str(config), "--save-dataset", "kth-spot"]) == 0
    assert _count(cli_store, jobs, dataset="kth-spot") == 310  # as imported: MNP parents and their node jobs
    assert _count(cli_store, instances, dataset="kth-spot") == result["instances_launched"]
    assert _count(cli_store, job_attempts) == result["attempts"]
    # A taken name is refused before the replay runs, and the message's flag exists.
    capsys.readouterr()
    args = ["simulate", "--dataset", "kth", "--config", str(config), "--save-dataset", "kth-spot"]
    assert main(args) == 2
    err = capsys.readouterr()
    assert "dataset 'kth-spot' already exists (use --replace to overwrite it)" in err.err
    assert "replay" not in err.out.lower()  # (nothing was replayed)
    assert main([*args, "--replace"]) == 0
    assert _count(cli_store, jobs, dataset="kth-spot") == 310


def test_two_configurations_compare_in_one_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = _small_trace(tmp_path, 200)
    spot = _config(tmp_path / "spot.json", "SPOT", 128, "SPOT_CAPACITY_OPTIMIZED")
    ondemand = _config(tmp_path / "ondemand.json", "EC2", 128, "BEST_FIT")
    out, jobs_out = tmp_path / "both.json", tmp_path / "both.csv"
    args = [
        "simulate",
        "--trace",
        str(trace),
        "--format",
        "swf",
        "--config",
        str(spot),
        "--config",
        str(ondemand),
    ]
    assert main([*args, "--out", str(out), "--jobs-out", str(jobs_out)]) == 0
    header = capsys.readouterr().out.splitlines()[1]
    assert "spot.json" in header and "ondemand.json" in header
    runs = json.loads(out.read_text())["runs"]
    assert [Path(r["config"]).name for r in runs] == ["spot.json", "ondemand.json"]
    assert runs[0]["total_cost_usd"] < runs[1]["total_cost_usd"]  # same jobs, spot prices
    assert set(pd.read_csv(jobs_out)["config"]) == {"spot.json", "ondemand.json"}


def test_malformed_trace_writes_nothing_and_names_the_line(
    cli_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = _small_trace(tmp_path, 50)
    lines = trace.read_text().splitlines()
    bad_at = len(lines) - 10
    lines[bad_at] = lines[bad_at].replace(" ", " x", 1)
    trace.write_text("\n".join(lines) + "\n")
    assert main(["import-trace", "--format", "swf", "--dataset", "broken", str(trace)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"batchopt: error: {trace} line {bad_at + 1}: ")
    assert _count(cli_store, jobs) == 0 and _count(cli_store, datasets) == 0


def test_bad_configuration_is_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = _small_trace(tmp_path, 10)
    config = tmp_path / "bad.json"
    config.write_text('{"computeEnvironments": [{"computeEnvironmentName": "x"}], "jobQueues": []}')
    out = tmp_path / "never.json"
    code = main(
        ["simulate", "--trace", str(trace), "--format", "swf", "--config", str(config), "--out", str(out)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "jobQueues: required" in err and "Traceback" not in err
    assert not out.exists()


def test_prices_come_from_the_store_when_it_has_them(
    cli_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import datetime

    from optimizer.store.schema import instance_types, ondemand_prices, spot_interruption_bands, spot_prices
    from optimizer.store.upsert import bulk_upsert

    engine = create_store_engine(cli_store)
    day = datetime(2026, 11, 1)
    with engine.begin() as conn:
        bulk_upsert(
            conn,
            instance_types,
            [
                {
                    "region": "us-east-1",
                    "instance_type": name,
                    "vcpus": v,
                    "memory_mib": m,
                    "allocatable_memory_mib": m - 300,
                    "gpus": 0,
                    "arch": "x86_64",
                    "family": name.split(".")[0],
                }
                for name, v, m in (("m5.xlarge", 4, 16384), ("m5.4xlarge", 16, 65536))
            ],
        )
        bulk_upsert(
            conn,
            ondemand_prices,
            [
                {
                    "region": "us-east-1",
                    "instance_type": "m5.xlarge",
                    "effective_date": day,
                    "price_per_hour": 0.192,
                    "source": "pricing-api",
                },
                {
                    "region": "us-east-1",
                    "instance_type": "m5.4xlarge",
                    "effective_date": day,
                    "price_per_hour": 0.768,
                    "source": "pricing-api",
                },
            ],
        )
        bulk_upsert(
            conn,
            spot_interruption_bands,
            [
                {
                    "region": "us-east-1",
                    "instance_type": "m5.xlarge",
                    "band": 1,
                    "band_label": "5-10%",
                    "savings_pct": 50.0,
                    "snapshot_date": day,
                }
            ],
        )
        bulk_upsert(
            conn,
            spot_prices,
            [
                {
                    "region": "us-east-1",
                    "availability_zone": az,
                    "instance_type": "m5.xlarge",
                    "timestamp": day,
                    "price": price,
                }
                for az, price in (("us-east-1a", 0.05), ("us-east-1b", 0.07), ("us-east-1c", 0.06))
            ],
        )
    engine.dispose()
    trace = _small_trace(tmp_path, 20)
    assert main(["import-trace", "--format", "swf", "--dataset", "kth", str(trace)]) == 0
    config = _config(tmp_path / "spot.json", "SPOT", 64, "SPOT_CAPACITY_OPTIMIZED", ("m5",))
    out = tmp_path / "r.json"
    assert main(["simulate", "--dataset", "kth", "--config", str(config), "--out", str(out)]) == 0
    assert "(2 types)" in capsys.readouterr().out
    result = json.loads(out.read_text())
    # Only m5.xlarge has a spot price; its median across AZs, 0.06 $/h, is what the replay paid.
    assert set(result["cost_by_instance_type"]) == {"m5.xlarge"}
    assert result["total_cost_usd"] == pytest.approx(result["instance_hours"] * 0.06, rel=1e-3)


def test_a_failure_while_writing_rolls_the_whole_import_back(
    cli_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import optimizer.simulate.datasets as datasets_module
    from optimizer.traces import read_trace

    real_upsert = datasets_module.bulk_upsert

    def failing_upsert(conn: object, table: object, rows: object, **kw: object) -> int:
        if getattr(table, "name", "") == "jobs":
            raise RuntimeError("disk full")
        return real_upsert(conn, table, rows, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(datasets_module, "bulk_upsert", failing_upsert)
    engine = create_store_engine(cli_store)
    trace = read_trace(_small_trace(tmp_path, 20), "swf")
    with pytest.raises(RuntimeError, match="disk full"):
        datasets_module.import_trace(engine, trace, "half", imported_at=trace.start_time)  # type: ignore[arg-type]
    engine.dispose()
    assert _count(cli_store, datasets) == 0 and _count(cli_store, jobs) == 0


def test_collected_history_replays_too(cli_store: str, tmp_path: Path) -> None:
    """Jobs the collector stored (dataset "aws") replay without an import; unfinished ones are left out."""
    from datetime import datetime, timedelta

    from optimizer.store.upsert import bulk_upsert

    t0 = datetime(2026, 11, 2, 8, 0, 0)
    rows = []
    for k in range(6):
        created = t0 + timedelta(minutes=k)
        finished = k < 5
        rows.append(
            {
                "job_id": f"0c5e{k:04d}-aaaa-bbbb-cccc-000000000000",
                "dataset": "aws",
                "job_name": "align",
                "queue": "genomics",
                "status": "SUCCEEDED" if finished else "RUNNING",
                "created_at": created,
                "started_at": created + timedelta(seconds=30),
                "stopped_at": created + timedelta(seconds=630) if finished else None,
                "vcpus": 2.0,
                "memory_mib": 4096,
                "gpus": 0,
                "tags": {"arch": "arm64", "team": "g"},  # a user's tag, not the job's architecture
                "depends_on": [rows[0]["job_id"]] if k == 3 else [],
                "retry_strategy": {"attempts": 2},
            }
        )
    engine = create_store_engine(cli_store)
    with engine.begin() as conn:
        bulk_upsert(conn, jobs, rows)
    engine.dispose()
    config = _config(tmp_path / "od.json", "EC2", 64, "BEST_FIT")
    out, jobs_out = tmp_path / "aws.json", tmp_path / "aws.csv"
    assert (
        main(
            [
                "simulate",
                "--dataset",
                "aws",
                "--config",
                str(config),
                "--out",
                str(out),
                "--jobs-out",
                str(jobs_out),
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert result["jobs"] == 5 and result["succeeded"] == 5
    attempts = pd.read_csv(jobs_out).set_index("job_id")
    assert attempts["instance_type"].str.match(r"^(m5|c5)\.").all()  # x86 types: the tag was ignored
    first, dependent = rows[0]["job_id"], rows[3]["job_id"]
    assert attempts.loc[dependent, "started_at"] >= attempts.loc[first, "ended_at"]


def test_import_optimize_simulate_chain_needs_no_aws(
    cli_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """import-trace -> optimize --dataset --queue --environments-out -> simulate --config, offline on
    the bundled catalogue, under the default instance requirements."""
    from optimizer.catalog.instance_kinds import instance_kind

    trace = _small_trace(tmp_path, 400)
    assert (
        main(["import-trace", "--format", "swf", "--dataset", "kth", "--default-queue", "cpu", str(trace)])
        == 0
    )
    envs, plan_file = tmp_path / "envs.json", tmp_path / "plan.json"
    code = main(
        [
            "optimize", "--dataset", "kth", "--queue", "cpu", "--days", "3", "--region", "us-east-1",
            "--environments-out", str(envs), "--out", str(plan_file),
        ]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "stored as fleet plan" in printed
    document = json.loads(envs.read_text())
    assert set(document) == {"computeEnvironments", "jobQueues"}
    assert document["jobQueues"][0]["jobQueueName"] == "cpu"
    chosen = {t for env in document["computeEnvironments"] for t in env["computeResources"]["instanceTypes"]}
    assert chosen
    for name in chosen:  # CPU-only jobs: no burstable, accelerated or previous-generation type
        kind = instance_kind(name)
        assert not kind.burstable and not kind.accelerated and kind.current_generation, name
    plan = json.loads(plan_file.read_text())
    assert plan["status"] in ("OPTIMAL", "FEASIBLE")
    out = tmp_path / "replayed.json"
    assert main(["simulate", "--dataset", "kth", "--config", str(envs), "--out", str(out)]) == 0
    replayed = json.loads(out.read_text())
    assert replayed["jobs"] == 405 and replayed["total_cost_usd"] > 0  # 5 jobs over 64 vCPUs: 2 nodes each
    assert set(replayed["cost_by_instance_type"]) <= chosen
    # With the requirements lifted by --what-if the same command may choose from the whole list.
    code = main(
        [
            "optimize", "--dataset", "kth", "--queue", "cpu", "--days", "3",
            "--what-if", "instance_requirements.generations=any",
            "--what-if", "instance_requirements.burstable=true",
            "--what-if", "instance_requirements.excluded_families=m5*,c5*",
            "--out", str(plan_file),
        ]
    )  # fmt: skip
    assert code == 0
    lifted = json.loads(plan_file.read_text())
    assert not any(key.split(".")[0] in ("m5", "c5") for key in lifted["selected"])


def test_optimize_without_a_solution_writes_the_same_keys(
    cli_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = _small_trace(tmp_path, 50)
    assert (
        main(["import-trace", "--format", "swf", "--dataset", "kth", "--default-queue", "cpu", str(trace)])
        == 0
    )
    envs = tmp_path / "envs.json"
    code = main(
        [
            "optimize", "--dataset", "kth", "--queue", "cpu", "--days", "30",
            "--what-if", "instance_requirements.allowed_families=nothing*",
            "--environments-out", str(envs),
        ]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "INFEASIBLE" in out and "note: plan is INFEASIBLE" in out
    assert json.loads(envs.read_text()) == {"computeEnvironments": [], "jobQueues": []}
    assert main(["simulate", "--dataset", "kth", "--config", str(envs)]) == 2
    assert "computeEnvironments: required" in capsys.readouterr().err


def test_import_notes_jobs_wider_than_batchs_node_limit(
    cli_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """AWS Batch runs at most 1,000 nodes in one multi-node job by default (user guide, node groups)."""
    trace = tmp_path / "wide.swf"
    trace.write_text(
        "1 0 0 600 1100 -1 -1 1100 600 -1 1 -1 -1 -1 -1 -1 -1 -1\n"
        "2 10 0 600 8 -1 -1 8 600 -1 1 -1 -1 -1 -1 -1 -1 -1\n"
    )
    args = ["import-trace", "--format", "swf", "--dataset", "wide", "--max-vcpus-per-node", "1", str(trace)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "note: 1 of them need more than 1,000 nodes (up to 1,100), Batch's default limit" in printed


def test_an_account_with_no_jobs_lists_the_accounts_the_dataset_has(
    cli_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It listed the known datasets, which answered a question nobody asked."""
    from datetime import datetime, timedelta

    from optimizer.store.upsert import bulk_upsert

    t0 = datetime(2026, 11, 2, 8, 0, 0)
    rows = [
        {
            "job_id": f"0c5e{k:04d}-aaaa-bbbb-cccc-000000000001",
            "dataset": "aws",
            "job_name": "align",
            "queue": "genomics",
            "status": "SUCCEEDED",
            "region": "us-east-1",
            "account_id": account,
            "created_at": t0,
            "started_at": t0 + timedelta(seconds=30),
            "stopped_at": t0 + timedelta(seconds=630),
            "vcpus": 2.0,
            "memory_mib": 4096,
            "gpus": 0,
        }
        for k, account in enumerate(("111111111111", "333333333333"))
    ]
    engine = create_store_engine(cli_store)
    with engine.begin() as conn:
        bulk_upsert(conn, jobs, rows)
    engine.dispose()
    config = _config(tmp_path / "od.json", "EC2", 64, "BEST_FIT")
    capsys.readouterr()
    args = ["simulate", "--dataset", "aws", "--account", "222222222222", "--config", str(config)]
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == (
        "batchopt: error: dataset 'aws' has no jobs in region us-east-1 in account 222222222222"
        " (its accounts: 111111111111, 333333333333)"
    )
