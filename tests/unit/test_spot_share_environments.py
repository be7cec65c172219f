"""A plan's spot share survives its compute environments: the spot CE is capped by maxvCpus ahead of
the on-demand CE, so replaying the history on the document runs no more of the work on spot than the
plan (before the cap, a plan at share 0.2 replayed at ~97 % spot on the demo's queues)."""

from __future__ import annotations

import time

import botocore.session
import numpy as np
import pandas as pd
import pytest
from botocore.validate import ParamValidator

from optimizer.catalog.provider import CatalogProvider, build_provider
from optimizer.dashboard.replay_compare import ReplayInputs, what_if_replay
from optimizer.simulate import catalog_from_provider
from optimizer.simulate.spot_fit import replay_document
from optimizer.solver.build import build_problem
from optimizer.solver.compute_environments import (
    environment_notes,
    recommend_environments,
    spot_cap,
    spot_cap_estimate,
    uncapped_spot_max,
)
from optimizer.solver.plan import Plan, plan_to_dict
from optimizer.solver.policy import Policy
from optimizer.solver.problem import Problem, problem_to_dict
from optimizer.solver.solve import solve
from optimizer.solver.spot_work import spot_share
from optimizer.solver.validate import validate_plan
from tests.simulate_helpers import under_peak_jobs

SHARE = 0.2


def _catalog() -> CatalogProvider:
    prices = pd.DataFrame(
        {
            "instance_type": ["m5.large", "m5.xlarge", "m5.2xlarge"],
            "vcpus": [2.0, 4.0, 8.0],
            "memory_mib": [8192, 16384, 32768],
            "gpus": [0, 0, 0],
            "arch": "x86_64",
            "ondemand_price": [0.096, 0.192, 0.384],
        }
    )
    bands = pd.DataFrame(
        {"instance_type": ["m5.large", "m5.xlarge", "m5.2xlarge"], "band": [1, 1, 1], "savings_pct": 60.0}
    )
    return build_provider(prices, bands, region="us-east-1")


def _jobs() -> pd.DataFrame:
    return under_peak_jobs(48, 6)


def _solved(share: float | None) -> tuple[Problem, Plan]:
    policy = Policy(max_spot_share=share, time_limit_seconds=5.0)
    problem = build_problem(_jobs(), _catalog(), policy)
    plan = solve(problem, clock=time.perf_counter)
    assert validate_plan(problem, plan) == []
    return problem, plan


def _spot_ce(document: dict) -> dict:
    [spot] = [e for e in document["computeEnvironments"] if e["computeResources"]["type"] == "SPOT"]
    return spot["computeResources"]


def test_spot_cap_is_the_level_whose_work_below_it_is_the_plans_spot_work() -> None:
    packed = np.array([2.0, 4.0, 10.0])
    assert spot_cap(packed, np.array([1.0, 1.0, 4.0])) == pytest.approx(2.0)  # 2 + 2 + 2 = 6
    assert spot_cap(packed, np.array([3.0, 3.0, 3.0])) == pytest.approx(3.5)  # 2 + 3.5 + 3.5 = 9
    assert spot_cap(packed, np.array([0.0, 0.0, 0.0])) == 0.0
    assert spot_cap(packed, packed) is None  # all the work on spot: nothing to cap


def test_a_capped_plan_caps_its_spot_ce_and_sizes_on_demand_for_the_overflow() -> None:
    problem, plan = _solved(SHARE)
    assert spot_share(problem, plan) == pytest.approx(SHARE, abs=0.02)
    document = recommend_environments(problem, plan, "q")
    cap = spot_cap_estimate(problem, plan)
    assert cap is not None and _spot_ce(document)["maxvCpus"] == cap < uncapped_spot_max(problem, plan)
    [od] = [
        e["computeResources"]
        for e in document["computeEnvironments"]
        if e["computeResources"]["type"] == "EC2"
    ]
    # Whatever the spot CE cannot take goes on-demand: at the burst the whole peak but the cap.
    peak = max(
        float(np.dot([s.vcpus for s in problem.shapes], problem.demand[:, t]))
        for t in range(problem.n_buckets)
    )
    assert od["maxvCpus"] >= peak - cap
    notes = environment_notes(problem, plan)
    assert any(f"maxvCpus {cap} keeps the plan's spot share" in note for note in notes)
    fitted = recommend_environments(problem, plan, "q", spot_max_vcpus=3)
    assert _spot_ce(fitted)["maxvCpus"] == 3
    order = [o["computeEnvironment"] for o in document["jobQueues"][0]["computeEnvironmentOrder"]]
    assert order == ["batchopt-spot", "batchopt-ondemand"]
    # What apply would write is what the Batch API accepts: botocore's model is the truth.
    model = botocore.session.get_session().get_service_model("batch")
    validator = ParamValidator()
    for body in document["computeEnvironments"] + fitted["computeEnvironments"]:
        report = validator.validate(body, model.operation_model("CreateComputeEnvironment").input_shape)
        assert not report.has_errors(), report.generate_report()
    for body in document["jobQueues"]:
        report = validator.validate(body, model.operation_model("CreateJobQueue").input_shape)
        assert not report.has_errors(), report.generate_report()


def test_an_uncapped_plan_keeps_its_spot_ce_at_its_peak_with_headroom() -> None:
    problem, plan = _solved(None)
    assert spot_cap_estimate(problem, plan) is None
    assert _spot_ce(recommend_environments(problem, plan, "q"))["maxvCpus"] == uncapped_spot_max(
        problem, plan
    )


def test_the_what_if_replay_runs_no_more_of_the_work_on_spot_than_the_plan() -> None:
    problem, plan = _solved(SHARE)
    provider = _catalog()
    inputs = ReplayInputs(_jobs(), None, "us-east-1", provider)
    replayed = what_if_replay(inputs, problem_to_dict(problem), plan_to_dict(plan), "q")
    planned = replayed.plan_spot_share
    assert planned is not None and planned <= SHARE + 1e-9
    ran = replayed.summaries["what-if plan"]["spot_job_vcpu_share"]
    assert ran <= planned, f"replayed spot share {ran:.3f} > the plan's {planned:.3f}"
    assert ran > 0.0  # a cap, not a ban: a few spot instances fit within the share
    assert _spot_ce(replayed.document)["maxvCpus"] == replayed.spot_cap_fitted
    # The document shown is the one replayed: the same history on it gives the same share.
    again = replay_document(_jobs(), replayed.document, catalog_from_provider(provider))
    assert again.summary["spot_job_vcpu_share"] == ran
    # Spot first with no cap (the document before the cap) runs most of this work on spot.
    uncapped = recommend_environments(problem, plan, "q", spot_max_vcpus=uncapped_spot_max(problem, plan))
    assert (
        replay_document(_jobs(), uncapped, catalog_from_provider(provider)).summary["spot_job_vcpu_share"]
        > 0.5
    )
