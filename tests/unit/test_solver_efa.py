"""Gangs that need EFA or bandwidth: from the history's EFA devices and from the instance
requirements, planned only on hosts the catalogue says have them, and checked by the validator."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from optimizer.catalog.provider import CatalogProvider, bundled_catalog
from optimizer.catalog.requirements import InstanceRequirements
from optimizer.solver.build import build_problem
from optimizer.solver.compute_environments import environment_notes
from optimizer.solver.plan import Plan
from optimizer.solver.problem import Policy, Problem
from optimizer.solver.solve import solve
from optimizer.solver.validate import validate_plan

WIDE = "v64-m131072-g0-x86_64-x2"


def _node_rows(parent: str, submit: float, runtime: float, nodes: int, efa_devices: int | None) -> list[dict]:
    """Canonical node rows of one MNP job of `nodes` x 64 vCPU / 128 GiB."""
    return [
        {
            "job_id": f"{parent}#{n}",
            "submit_s": submit,
            "runtime_s": runtime,
            "vcpus": 64.0,
            "memory_mib": 131072.0,
            "gpus": 0,
            "queue": "hpc",
            "job_name": parent,
            "arch": None,
            "mnp_parent": parent,
            "node_index": n,
            "num_nodes": nodes,
            "efa": bool(efa_devices),
        }
        for n in range(nodes)
    ]


def _history(efa_devices: int | None = 1) -> pd.DataFrame:
    """Two gangs of two 64-vCPU nodes in hour 0: `m1` passes EFA devices through, `m2` does not."""
    rows = [*_node_rows("m1", 0, 3000, 2, efa_devices), *_node_rows("m2", 0, 3000, 2, 0)]
    return pd.DataFrame(rows)


def _catalog() -> CatalogProvider:
    return bundled_catalog("us-east-1")


def _efa_types(catalog: CatalogProvider) -> set[str]:
    table = catalog.table
    return set(table.loc[table["efa_supported"].fillna(False).astype(bool), "instance_type"])


def _hosts(problem: Problem, plan: Plan, shape_id: str) -> set[str]:
    types = {o.key: o.instance_type for o in problem.offerings}
    return {types[b.offering] for bins in plan.buckets for b in bins if b.jobs.get(shape_id)}


def _move(plan: Plan, shape_id: str, offering: str) -> Plan:
    """The plan with every bin hosting `shape_id` moved to `offering` (same count and jobs)."""
    buckets = [
        [replace(b, offering=offering) if b.jobs.get(shape_id) else b for b in bins] for bins in plan.buckets
    ]
    return replace(plan, buckets=buckets)


def test_a_gang_that_passes_efa_devices_runs_only_on_efa_hosts() -> None:
    catalog = _catalog()
    problem = build_problem(_history(), catalog, Policy(time_limit_seconds=5))
    gangs = {s.id: s for s in problem.shapes if s.is_gang}
    assert set(gangs) == {WIDE, f"{WIDE}-efa"}
    assert gangs[f"{WIDE}-efa"].efa and not gangs[WIDE].efa

    plan = solve(problem, clock=time.perf_counter)
    assert plan.has_solution and validate_plan(problem, plan) == []
    efa_hosts, plain_hosts = _hosts(problem, plan, f"{WIDE}-efa"), _hosts(problem, plan, WIDE)
    assert efa_hosts and efa_hosts <= _efa_types(catalog)
    # The ask is what moves it: the same gang without EFA takes a cheaper host that has none.
    assert plain_hosts and not plain_hosts & _efa_types(catalog)

    # Put the EFA gang where the plain one runs: the validator refuses it, naming the shape.
    [plain] = plain_hosts
    moved = _move(plan, f"{WIDE}-efa", f"{plain}/ON_DEMAND")
    errors = validate_plan(problem, moved, check_bound=False)
    assert any(f"cannot host shape {WIDE}-efa" in e and "EFA" in e for e in errors), errors
    # What the CE document cannot say: the EFA launch template, security group and placement group.
    notes = environment_notes(problem, plan)
    assert any("EFA network interface" in n and "placement group" in n for n in notes)


def test_unknown_efa_devices_ask_for_nothing() -> None:
    """A history without the column (imported traces) or with it unknown plans gangs as before."""
    problem = build_problem(_history(efa_devices=None), _catalog(), Policy(time_limit_seconds=5))
    assert [s.efa for s in problem.shapes if s.is_gang] == [False]


def test_the_requirements_give_every_gang_efa_and_the_validator_holds_a_document_to_it() -> None:
    catalog = _catalog()
    plain = build_problem(_history(efa_devices=0), catalog, Policy(time_limit_seconds=5))
    plain_plan = solve(plain, clock=time.perf_counter)
    assert not _hosts(plain, plain_plan, WIDE) & _efa_types(catalog)

    policy = Policy(time_limit_seconds=5, instance_requirements=InstanceRequirements(gang_efa=True))
    built = build_problem(_history(efa_devices=0), catalog, policy)
    assert [s.efa for s in built.shapes if s.is_gang] == [True]  # stated on the shape in the document
    assert _hosts(built, solve(built, clock=time.perf_counter), WIDE) <= _efa_types(catalog)

    # A document whose shapes say nothing, re-solved under the requirement (as --what-if does).
    document = plain.with_policy(policy)
    plan = solve(document, clock=time.perf_counter)
    assert validate_plan(document, plan) == []
    assert _hosts(document, plan, WIDE) <= _efa_types(catalog)
    errors = validate_plan(document, plain_plan, check_bound=False)
    assert any("instance requirements ask gangs for EFA" in e and WIDE in e for e in errors), errors


def test_a_bandwidth_floor_for_gangs_keeps_them_on_fast_network_types() -> None:
    catalog = _catalog()
    policy = Policy(
        time_limit_seconds=5, instance_requirements=InstanceRequirements(gang_min_network_gbps=100)
    )
    problem = build_problem(_history(efa_devices=0), catalog, policy)
    plan = solve(problem, clock=time.perf_counter)
    assert validate_plan(problem, plan) == []
    bandwidth = catalog.table.set_index("instance_type")["network_bandwidth_mbps"]
    hosts = _hosts(problem, plan, WIDE)
    assert hosts and all(bandwidth[t] >= 100_000 for t in hosts)
    # Ordinary jobs are not held to it.
    assert all(not s.min_network_gbps for s in problem.shapes if not s.is_gang)


def test_no_host_with_efa_says_so() -> None:
    """A catalogue where EFA support is unknown everywhere (a price table without the column)
    finds no host for an EFA gang, and the reason says what it asked for."""
    catalog = _catalog()
    table = catalog.table.assign(efa_supported=pd.array([pd.NA] * len(catalog.table), dtype="boolean"))
    unknown = CatalogProvider(catalog.region, table, catalog.spot_series, catalog.sources)
    problem = build_problem(_history(), unknown, Policy(time_limit_seconds=5))
    plan = solve(problem, clock=time.perf_counter)
    assert plan.status == "INFEASIBLE"
    assert "EFA" in plan.reason


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("gang_efa", "yes", "instance_requirements.gang_efa: must be true or false"),
        ("gang_min_network_gbps", -1, "instance_requirements.gang_min_network_gbps: must be a number >= 0"),
        ("gang_min_network_gbps", "fast", "instance_requirements.gang_min_network_gbps: must be a number"),
    ],
)
def test_bad_gang_requirements_name_the_field(field: str, value: object, message: str) -> None:
    from optimizer.catalog.requirements import requirements_from_dict
    from optimizer.errors import InputError

    with pytest.raises(InputError, match=message):
        requirements_from_dict({field: value})


def test_gang_requirements_read_from_settings_and_documents() -> None:
    from optimizer.catalog.requirements import requirements_from_dict, requirements_to_dict
    from optimizer.config import OptimizationSettings
    from optimizer.solver.policy import policy_from_settings

    settings = OptimizationSettings.model_validate(
        {"instance_requirements": {"gang_efa": True, "gang_min_network_gbps": 50}}
    )
    req = policy_from_settings(settings).instance_requirements
    assert (req.gang_efa, req.gang_min_network_gbps) == (True, 50.0)
    assert requirements_from_dict(requirements_to_dict(req)) == req
    assert "gang_efa=yes" in req.describe() and "gang_min_network_gbps=50" in req.describe()
    with pytest.raises(ValueError, match="gang_min_network_gbps"):
        OptimizationSettings.model_validate({"instance_requirements": {"gang_min_network_gbps": -5}})


def test_what_if_gang_requirements_on_a_problem_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`optimize --problem ... --what-if instance_requirements.gang_efa=true` moves the gangs onto
    EFA types; a bad bandwidth is one error line naming the field (exit 2)."""
    import json

    from optimizer.cli.main import main
    from optimizer.solver.plan import load_plan
    from optimizer.solver.problem import load_problem, problem_to_dict

    catalog = _catalog()
    problem = build_problem(_history(efa_devices=0), catalog, Policy(time_limit_seconds=5))
    path, out = tmp_path / "problem.json", tmp_path / "plan.json"
    path.write_text(json.dumps(problem_to_dict(problem)))
    what_if = ["--what-if", "instance_requirements.gang_efa=true"]
    assert main(["optimize", "--problem", str(path), "--out", str(out), *what_if]) == 0
    plan = load_plan(out)
    assert _hosts(problem, plan, WIDE) <= _efa_types(catalog)
    assert validate_plan(load_problem(path), plan, check_bound=False) == []  # the document's own policy

    bad = ["--what-if", "instance_requirements.gang_min_network_gbps=fast"]
    assert main(["optimize", "--problem", str(path), "--out", str(out), *bad]) == 2
    assert "instance_requirements.gang_min_network_gbps: must be a number" in capsys.readouterr().err
