"""`[recommend.<strategy>]` TOML sections -> each strategy's typed settings.

Every strategy has a pydantic settings class (`Strategy.settings_class`, extra fields forbidden);
a section named after the strategy sets its fields, e.g.

    [recommend.attempt-timeouts]
    multiplier = 4.0

    [recommend.retry-and-spot.spot]
    max_runtime_p95_s = 14400

A misspelt strategy or field, or a value out of range, is a ConfigError naming it, raised when the
recommend layer builds its strategies (`recommend.generate.default_strategies`), before it reads the
store or replays anything: `batchopt recommend --refresh` and the scheduled job stop at once. The
settings layer below does not import the strategies to check them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from optimizer.errors import ConfigError
from optimizer.recommend.base import StrategySettings


def strategy_settings(sections: Mapping[str, Any]) -> dict[str, StrategySettings]:
    """The typed settings of each strategy a section names (by `Strategy.name`)."""
    from optimizer.recommend.strategies import ALL_STRATEGIES

    by_name = {cls.name: cls for cls in ALL_STRATEGIES}
    out: dict[str, StrategySettings] = {}
    problems: list[str] = []
    for name, values in sections.items():
        cls = by_name.get(name)
        if cls is None:
            problems.append(f"recommend.{name}: unknown strategy (known: {', '.join(sorted(by_name))})")
            continue
        if not isinstance(values, Mapping):
            problems.append(f"recommend.{name}: expected a table of settings")
            continue
        try:
            out[name] = cls.settings_class(**values)
        except ValidationError as exc:
            problems += [
                f"recommend.{name}.{'.'.join(str(part) for part in err['loc'])}: {err['msg']}"
                for err in exc.errors()
            ]
    if problems:
        raise ConfigError("\n".join(problems))
    return out
