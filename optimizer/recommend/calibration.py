"""How far the replay is from what the estate really cost: computed once per scope, shown with every saving.

Every saving is the difference of two replays of the same history, one on the current configuration
and one on the proposed. Before trusting that difference, the replay of the *current* configuration
is compared with the measured cost of the same window (the store's instance-hours x price; the bill
once one is imported). The gap, scaled to a month, is the calibration error: a saving smaller than
it cannot be told apart from the model's error, so it is labelled "within model error" and left out
of the headline (`optimizer.recommend.headline`).

Pure: the measured cost is read by `optimizer.recommend.measured` (the I/O edge).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optimizer.per_month import DAYS_PER_MONTH


@dataclass(frozen=True)
class Calibration:
    """Replay of the current configuration vs the measured cost of the same window."""

    observed_usd: float | None
    """Measured cost of the window (None when the store has none, e.g. an imported trace)."""
    replayed_usd: float
    window_days: float
    source: str = "store: instance-hours x price"

    @property
    def measured(self) -> bool:
        return self.observed_usd is not None and self.observed_usd > 0

    @property
    def error_usd(self) -> float | None:
        """Replayed minus observed over the window (positive: the replay costs more)."""
        return None if not self.measured else self.replayed_usd - float(self.observed_usd or 0.0)

    @property
    def error_fraction(self) -> float | None:
        error = self.error_usd
        return None if error is None else error / float(self.observed_usd or 1.0)

    @property
    def monthly_error_usd(self) -> float | None:
        """|error| scaled to a month: the margin a monthly saving must exceed to count."""
        error = self.error_usd
        return None if error is None else abs(error) * DAYS_PER_MONTH / max(self.window_days, 1.0)

    def to_json(self) -> dict[str, Any]:
        fraction = self.error_fraction
        monthly = self.monthly_error_usd
        return {
            "observed_cost_usd": None if self.observed_usd is None else round(self.observed_usd, 2),
            "replayed_current_cost_usd": round(self.replayed_usd, 2),
            "window_days": round(self.window_days, 3),
            "error_pct": None if fraction is None else round(100.0 * fraction, 2),
            "monthly_error_usd": None if monthly is None else round(monthly, 2),
            "source": self.source,
        }


def calibration_from_json(data: Any) -> Calibration | None:
    """The calibration a recommendation's evidence carries (None when it has none)."""
    if not isinstance(data, dict) or data.get("replayed_current_cost_usd") is None:
        return None
    observed = data.get("observed_cost_usd")
    return Calibration(
        observed_usd=None if observed is None else float(observed),
        replayed_usd=float(data["replayed_current_cost_usd"]),
        window_days=float(data.get("window_days") or 1.0),
        source=str(data.get("source") or ""),
    )


def within_error(monthly_savings_usd: float, calibration: Calibration | None) -> bool:
    """Whether a saving is no larger than the model's calibration error (so it is not counted).

    Without a measured cost there is no error to compare with: the saving stands, and the page
    says the replay is uncalibrated."""
    if calibration is None:
        return False
    margin = calibration.monthly_error_usd
    return margin is not None and abs(monthly_savings_usd) <= margin


def describe(calibration: Calibration | None) -> str:
    """One line a person reads next to a saving. It names what the replay is measured against,
    the collected instance-hours at their prices, not the bill ("vs measured" was read as the
    invoice, which differs by the Savings Plans, discounts and what the model does not price:
    `batchopt reconcile`)."""
    if calibration is None or calibration.error_fraction is None:
        return "replay not calibrated (no measured cost for the window)"
    return (
        f"replay {calibration.error_fraction:+.1%} vs the collected instance-hours at their prices "
        f"(±${calibration.monthly_error_usd or 0.0:,.0f}/month)"
    )
