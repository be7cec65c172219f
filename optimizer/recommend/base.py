"""The strategy contract: a small pure class with its own typed settings (robusta-dev/krr's pattern).

A strategy reads a `RecommendInputs` snapshot (frames already read from the store, a replay baseline,
a clock for the solver) and returns `Recommendation`s. It does no I/O, so the same inputs always give
the same recommendations and every strategy is unit-testable on small hand-made frames.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from optimizer.domain import Recommendation, RiskLevel, UpdateKind
from optimizer.recommend.ids import recommendation_id
from optimizer.recommend.inputs_model import RecommendInputs

if TYPE_CHECKING:
    from optimizer.recommend.commitment_basis import OnDemandChange


class StrategySettings(BaseModel):
    """Settings every strategy has; each strategy subclasses this with its own knobs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    min_monthly_savings_usd: float = Field(default=10.0, ge=0.0)
    """Below this a recommendation is noise next to the replay's own variance and not worth a
    change window; it is not emitted."""


RISK_KINDS = ("interruption", "oom", "queue_wait")
"""Every recommendation states these three risks (strategies add others, e.g. compatibility)."""

SettingsT = TypeVar("SettingsT", bound=StrategySettings)


class Strategy(ABC, Generic[SettingsT]):
    """One kind of advice. Subclasses set `name` and `settings_class` and implement `run`."""

    name: ClassVar[str]
    settings_class: ClassVar[type[StrategySettings]]

    def __init__(self, settings: SettingsT | None = None) -> None:
        self.settings: SettingsT = settings if settings is not None else self.settings_class()  # type: ignore[assignment]

    sized_after_others: ClassVar[bool] = False
    """True for advice that depends on what the other strategies propose (commitment advice covers
    the on-demand usage they leave): `generate` runs it last, through `run_after`."""

    @abstractmethod
    def run(self, inputs: RecommendInputs) -> list[Recommendation]:
        """Recommendations for this snapshot (pure)."""

    def run_after(self, inputs: RecommendInputs, change: OnDemandChange) -> list[Recommendation]:
        """Recommendations given the on-demand change the other strategies' counted advice makes;
        only strategies with `sized_after_others` read it."""
        return self.run(inputs)


class QueueStrategy(Strategy[SettingsT]):
    """A strategy that judges each job queue on its own (spot adoption, Fargate)."""

    def run(self, inputs: RecommendInputs) -> list[Recommendation]:
        recs = (self._recommend(inputs, queue) for queue in inputs.job_queues)
        return [rec for rec in recs if rec is not None]

    @abstractmethod
    def _recommend(self, inputs: RecommendInputs, queue: dict[str, Any]) -> Recommendation | None:
        """The recommendation for one queue (a Batch DescribeJobQueues item), if any."""


def risk_level(scores: Mapping[str, float]) -> RiskLevel:
    """The worst of the per-risk scores (0 none .. 1 certain): > 0.3 high, > 0.1 medium."""
    worst = max(scores.values(), default=0.0)
    if worst > 0.3:
        return RiskLevel.HIGH
    if worst > 0.1:
        return RiskLevel.MEDIUM
    return RiskLevel.LOW


def json_clean(value: Any) -> Any:
    """`value` as strict JSON: numpy scalars become Python numbers, NaN and infinities become None
    (PostgreSQL's JSON type rejects them), tuples become lists."""
    if isinstance(value, dict):
        return {str(k): json_clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if hasattr(value, "item") and not isinstance(value, int | float):
        value = value.item()  # numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def make_recommendation(
    *,
    strategy: str,
    target_arn: str,
    target_kind: str,
    target_name: str,
    title: str,
    current: dict[str, Any],
    proposed: dict[str, Any],
    monthly_savings_usd: float,
    risk: dict[str, Any],
    risk_scores: Mapping[str, float],
    confidence: float,
    effort: str,
    update_kind: UpdateKind,
    evidence: dict[str, Any],
    account_id: str | None,
    region: str | None,
    applicable: bool = True,
) -> Recommendation:
    """A Recommendation with its stable id (strategy, target, proposal) and its risk level."""
    proposed = json_clean(proposed)
    return Recommendation(
        id=recommendation_id(strategy, target_arn, proposed),
        strategy=strategy,
        target_arn=target_arn,
        target_kind=target_kind,
        title=title,
        current=json_clean(current),
        proposed=proposed,
        monthly_savings_usd=round(float(monthly_savings_usd), 2),
        risk=json_clean(
            {
                **{key: "unchanged" for key in RISK_KINDS},
                **risk,
                "scores": {k: round(float(v), 4) for k, v in risk_scores.items()},
            }
        ),
        risk_level=risk_level(risk_scores),
        confidence=round(max(0.0, min(1.0, float(confidence))), 3),
        effort=effort,
        update_kind=update_kind,
        evidence=json_clean(evidence),
        target_name=target_name,
        account_id=account_id,
        region=region,
        applicable=applicable,
    )
