"""`batchopt optimize` end to end on files: exit codes, plan written, what-if, LP estimate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optimizer.cli.main import main
from optimizer.solver.plan import load_plan
from optimizer.solver.problem import load_problem, problem_to_dict
from optimizer.solver.validate import validate_plan
from tests.solver_helpers import random_problem


@pytest.fixture
def problem_file(tmp_path: Path) -> Path:
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(problem_to_dict(random_problem(11, n_buckets=4))))
    return path


def test_optimize_writes_a_valid_plan_and_environments(problem_file: Path, tmp_path: Path, capsys) -> None:
    out, envs = tmp_path / "plan.json", tmp_path / "envs.json"
    assert (
        main(["optimize", "--problem", str(problem_file), "--out", str(out), "--environments-out", str(envs)])
        == 0
    )
    plan = load_plan(out)
    assert plan.status in ("OPTIMAL", "FEASIBLE")
    assert validate_plan(load_problem(problem_file), plan) == []
    assert json.loads(envs.read_text())["computeEnvironments"]
    assert "lower bound" in capsys.readouterr().out


def test_what_if_changes_the_policy(problem_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    args = ["optimize", "--problem", str(problem_file), "--out", str(out), "--what-if", "max_spot_share=0"]
    assert main(args) == 0
    plan = load_plan(out)
    assert plan.selected and all(k.endswith("/ON_DEMAND") for k in plan.selected)


def test_lp_estimate_is_a_bound_on_the_plan(problem_file: Path, tmp_path: Path) -> None:
    lp_out, plan_out = tmp_path / "lp.json", tmp_path / "plan.json"
    assert main(["optimize", "--problem", str(problem_file), "--lp", "--out", str(lp_out)]) == 0
    assert main(["optimize", "--problem", str(problem_file), "--out", str(plan_out)]) == 0
    estimate = json.loads(lp_out.read_text())
    assert estimate["schema"] == "batchopt.lp-estimate/v1" and estimate["converged"]
    assert estimate["lower_bound_usd"] <= load_plan(plan_out).objective_usd + 1e-6


def test_bad_input_is_one_line_and_exit_2(problem_file: Path, tmp_path: Path, capsys) -> None:
    doc = json.loads(problem_file.read_text())
    doc["offerings"][3]["price_per_hour"] = -1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    out = tmp_path / "plan.json"
    assert main(["optimize", "--problem", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "batchopt: error: bad.json: offerings[3].price_per_hour: must be >= 0"
    assert not out.exists()
    assert main(["optimize", "--problem", str(problem_file), "--what-if", "max_spot_share=abc"]) == 2
    assert "max_spot_share" in capsys.readouterr().err


def test_lp_refuses_environments_out_and_names_why_no_plan_exists(
    problem_file: Path, tmp_path: Path, capsys
) -> None:
    envs = tmp_path / "envs.json"
    # --environments-out was silently ignored with --lp (an estimate has no plan to write).
    args = ["optimize", "--problem", str(problem_file), "--lp", "--environments-out", str(envs)]
    assert main(args) == 2
    assert "--environments-out needs a plan" in capsys.readouterr().err
    assert not envs.exists()
    # Uncoverable demand printed "lower bound $0.00, LP objective $0.00".
    doc = json.loads(problem_file.read_text())
    doc["shapes"][0]["vcpus"] = 100_000
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps(doc))
    assert main(["optimize", "--problem", str(huge), "--lp"]) == 0
    out = capsys.readouterr().out
    assert "$0.00" not in out
    assert out.startswith("LP infeasible: no plan exists: shape ") and "fits no offering" in out


def test_what_if_errors_name_the_field_without_a_stray_dot(problem_file: Path, capsys) -> None:
    args = [
        "optimize",
        "--problem",
        str(problem_file),
        "--lp",
        "--what-if",
        "instance_requirements.min_generation=x",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        "batchopt: error: --what-if: instance_requirements.min_generation: must be an integer"
    )
