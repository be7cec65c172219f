"""The demo plans under the README's example `[optimization]` policy, unless the user set one."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from optimizer.config import OptimizationSettings, Settings
from optimizer.demo.policy import EXAMPLE_POLICY, demo_optimization, policy_env, with_demo_policy
from optimizer.solver.policy import Policy, describe_limits, policy_from_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_optimization() -> dict[str, object]:
    """The `[optimization]` table of the README's example `batchopt.toml` block."""
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(), flags=re.S)
    tables = [tomllib.loads(b)["optimization"] for b in blocks if "[optimization]" in b]
    assert len(tables) == 1, "the README has one example [optimization] section"
    return {k: v for k, v in tables[0].items() if not isinstance(v, dict)}


def test_example_policy_is_the_readmes() -> None:
    assert _readme_optimization() == EXAMPLE_POLICY


def test_unset_limits_take_the_example() -> None:
    policy = policy_from_settings(demo_optimization(OptimizationSettings()))
    assert (policy.max_instance_types, policy.min_spot_instance_types, policy.max_spot_share) == (8, 3, 0.8)


def test_a_limit_the_user_set_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHOPT_OPTIMIZATION__MAX_INSTANCE_TYPES", "12")
    monkeypatch.setenv("BATCHOPT_OPTIMIZATION__MAX_SPOT_SHARE", "1.0")
    opt = with_demo_policy(Settings()).optimization
    assert opt.max_instance_types == 12  # the user's
    assert opt.max_spot_share == 1.0  # the user's: no spot-share cap
    assert opt.min_spot_instance_types == 3  # unset: the example's
    assert policy_from_settings(opt).max_spot_share is None


def test_policy_env_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    opt = demo_optimization(OptimizationSettings())
    for name, value in policy_env(opt).items():
        monkeypatch.setenv(name, value)
    assert Settings().optimization.model_dump() == opt.model_dump()
    assert "BATCHOPT_OPTIMIZATION__MAX_INSTANCE_TYPES" not in policy_env(OptimizationSettings())


def test_describe_limits() -> None:
    assert describe_limits(Policy()) == "no limits"
    assert describe_limits(Policy(max_instance_types=8, min_spot_instance_types=3, max_spot_share=0.8)) == (
        "at most 8 instance types, spot over at least 3 pools, at most 80% of job vCPU-hours on spot"
    )
    assert describe_limits(Policy(min_spot_instance_types=1, max_spot_share=1.0)) == "no limits"
