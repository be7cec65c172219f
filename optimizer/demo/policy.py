"""The demo's fleet policy: the README's example `[optimization]` section.

Real operators always set limits (AWS's own spot guidance is to diversify over several pools; a
type cap keeps a compute environment readable), so the demo shows plans under the limits the
README suggests instead of the open policy nobody runs (issue 17: "The README's example policy is
what the demo uses"). `tests/unit/test_demo_policy.py` reads the README's TOML block and checks it
against `EXAMPLE_POLICY`, so the two cannot drift apart.

A limit the user configured (TOML or `BATCHOPT_OPTIMIZATION__*`) wins over the example's: the demo
then shows the user's own policy. The same values reach the dashboard subprocess and the CLI
settings file (`demo.env`) as environment variables, so every page and command run against the
demo plans under the policy the demo's summary used.
"""

from __future__ import annotations

from typing import Any

from optimizer.config import OptimizationSettings, Settings

#: The README's example `[optimization]` values (its "Configuration" section).
EXAMPLE_POLICY: dict[str, Any] = {
    "max_instance_types": 8,
    "min_spot_instance_types": 3,
    "max_spot_share": 0.8,
}


def demo_optimization(opt: OptimizationSettings) -> OptimizationSettings:
    """`opt` with the example's limits wherever the user left a limit unset."""
    chosen = {name: value for name, value in EXAMPLE_POLICY.items() if name not in opt.model_fields_set}
    return opt.model_copy(update=chosen)


def with_demo_policy(settings: Settings) -> Settings:
    """The user's settings with the demo's policy (`demo_optimization`)."""
    return settings.model_copy(update={"optimization": demo_optimization(settings.optimization)})


def policy_env(opt: OptimizationSettings) -> dict[str, str]:
    """The policy's limits as the environment variables a subprocess's settings read (a limit
    that is off, None, is left out: unset is how the settings say so)."""
    return {
        f"BATCHOPT_OPTIMIZATION__{name.upper()}": str(getattr(opt, name))
        for name in EXAMPLE_POLICY
        if getattr(opt, name) is not None
    }
