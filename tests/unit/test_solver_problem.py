"""The problem and plan documents: round trips, and one clear error naming each bad field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from optimizer.errors import InputError
from optimizer.solver.plan import load_plan, plan_to_dict
from optimizer.solver.problem import load_problem, problem_from_dict, problem_to_dict
from tests.solver_helpers import random_problem, run


def test_problem_round_trips_through_json(tmp_path: Path) -> None:
    problem = random_problem(1)
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(problem_to_dict(problem)))
    again = load_problem(path)
    assert again.shapes == problem.shapes
    assert again.offerings == problem.offerings
    assert again.policy == problem.policy
    np.testing.assert_array_equal(again.demand, problem.demand)


def test_plan_round_trips_through_json(tmp_path: Path) -> None:
    problem = random_problem(2, n_buckets=3)
    plan = run(problem)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan_to_dict(plan)))
    again = load_plan(path)
    assert again.status == plan.status
    assert again.selected == plan.selected
    assert [[(b.offering, b.count, dict(b.jobs)) for b in bucket] for bucket in again.buckets] == [
        [(b.offering, b.count, dict(b.jobs)) for b in bucket] for bucket in plan.buckets
    ]


def _doc() -> dict:
    return problem_to_dict(random_problem(3, n_buckets=2))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["offerings"][3].update(price_per_hour=-1), "offerings[3].price_per_hour: must be >= 0"),
        (
            lambda d: d["offerings"][0].update(capacity_type="RESERVED"),
            "offerings[0].capacity_type: must be one of",
        ),
        (lambda d: d["shapes"][1].update(vcpus=0), "shapes[1].vcpus: must be > 0"),
        (lambda d: d["shapes"][1].update(arch="sparc"), "shapes[1].arch: must be one of"),
        (lambda d: d["shapes"][2].update(id="s0"), "shapes[2].id: duplicate shape id"),
        (lambda d: d["demand"].update(s0=[1]), "demand.s0: must be an array of 2 counts"),
        (lambda d: d["demand"].update(s1=[1, -2]), "demand.s1[1]: must be an integer >= 0"),
        (lambda d: d["demand"].update(zz=[1, 2]), "demand.zz: not a shape id"),
        (lambda d: d["policy"].update(max_spot_share=1.5), "policy.max_spot_share: must be <= 1"),
        (lambda d: d["policy"].update(max_instance_types=0), "policy.max_instance_types: must be >= 1"),
        (lambda d: d.update(schema="other"), "schema: must be 'batchopt.problem/v1'"),
        (lambda d: d.pop("bucket_seconds"), "bucket_seconds: is required"),
    ],
)
def test_bad_field_is_named(mutate, message: str) -> None:
    doc = _doc()
    mutate(doc)
    with pytest.raises(InputError) as err:
        problem_from_dict(doc, "problem.json")
    assert str(err.value).startswith("problem.json: ")
    assert message in str(err.value)


def test_unreadable_problem_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text("{\n  nope")
    with pytest.raises(InputError, match="line 2: not valid JSON"):
        load_problem(path)
    with pytest.raises(InputError, match="no such file"):
        load_problem(tmp_path / "missing.json")
