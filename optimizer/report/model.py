"""The report's content as typed records: what the renderers show and the tests check.

Every money figure is USD for the report week. Comparisons are `None` (never 0) when the
comparison period has no data, so no renderer can present a missing week as "no change".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from optimizer.analysis.cost import WASTE_LABELS
from optimizer.billing.window import BillWindow
from optimizer.report.weeks import IsoWeek

DIMENSIONS: dict[str, str] = {
    "queue": "Job queue",
    "compute_environment_arn": "Compute environment",
    "job_definition_name": "Job definition",
    "capacity_type": "Capacity type",
}
"""Breakdown dimensions (column in the daily cost aggregate -> heading)."""

WASTE_CLASSES = WASTE_LABELS  # (`analysis.cost`: one name per class everywhere)


@dataclass(frozen=True)
class Comparison:
    """A figure for the week against the previous week and the average of the four before it."""

    current: float
    previous: float | None
    average_4w: float | None

    @property
    def change_vs_previous(self) -> float | None:
        return _relative(self.current, self.previous)

    @property
    def change_vs_average(self) -> float | None:
        return _relative(self.current, self.average_4w)


def _relative(current: float, base: float | None) -> float | None:
    if base is None or base == 0:
        return None
    return (current - base) / base


@dataclass(frozen=True)
class BreakdownRow:
    key: str
    spend: Comparison
    share: float  # of the week's total spend


@dataclass(frozen=True)
class Utilization:
    """Requested vCPU-hours over provisioned vCPU-hours, and what the idle part cost."""

    requested_vcpu_hours: float
    idle_vcpu_hours: float
    idle_usd: float
    idle_share: float  # of total spend (`analysis.rollup.idle_share`)
    utilization: float | None  # requested / provisioned vCPU-hours (`analysis.rollup.allocated_share`)


@dataclass(frozen=True)
class SpotSummary:
    spot_usd: float
    on_demand_usd: float
    # The three spot shares, each `analysis.rollup.spot_share` under its `SPOT_SHARES` label
    spot_share: float | None  # of spend on spot + on-demand instances
    spot_vcpu_hour_share: float | None  # of instance vCPU-hours (idle included)
    spot_job_vcpu_hour_share: float | None  # of job (requested) vCPU-hours
    reclaimed_attempts: int
    reclaimed_vcpu_hours: float  # requested vCPU-hours of work thrown away by reclaims
    reclaim_usd: float  # what those lost attempts cost


@dataclass(frozen=True)
class WasteRow:
    dimension: str
    key: str
    waste_usd: float
    total_usd: float
    main_class: str  # key of WASTE_CLASSES with the largest amount

    @property
    def waste_share(self) -> float:
        return self.waste_usd / self.total_usd if self.total_usd > 0 else 0.0


@dataclass(frozen=True)
class Anomaly:
    kind: str  # "week-over-week" | "new-job-definition"
    dimension: str
    key: str
    current_usd: float
    previous_usd: float | None
    message: str


@dataclass(frozen=True)
class RecommendationItem:
    id: str
    title: str
    target: str
    monthly_savings_usd: float
    risk_level: str
    confidence: float
    update_kind: str
    headline: str = ""  # the headline's verdict: counted, within model error, overlaps, faster but costs
    wait_change: str = ""  # p95 wait of each affected queue, now -> proposed


@dataclass(frozen=True)
class AppliedChange:
    """A change applied (or rolled back) in the week, and what it did to cost per vCPU-hour.

    Rates compare whole UTC days before the change day with whole days after it, up to the end of
    the report week; the change day itself mixes both configurations and is left out.
    """

    audit_id: int
    at: datetime
    action: str
    actor: str
    result: str
    target: str
    title: str
    before_usd_per_vcpu_hour: float | None
    after_usd_per_vcpu_hour: float | None
    after_vcpu_hours: float
    realized_savings_usd: float | None
    note: str = ""


@dataclass(frozen=True)
class SourceFreshness:
    """Collector runs of one source in the week and the last time it succeeded."""

    source: str
    runs: int
    failed_runs: int
    last_success: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class Coverage:
    days_with_data: tuple[date, ...]
    days_without_data: tuple[date, ...]  # unknown: no rows, and no collection seen after the day
    quiet_days: tuple[date, ...]  # no rows although collected after: no instance ran (true $0)
    latest_data_day: date | None
    sources: tuple[SourceFreshness, ...]
    cost_source: str  # where the daily costs came from (persisted aggregate or computed now)
    fallback_priced_usd: float | None  # spend priced without its exact price series, when known
    notes: tuple[str, ...]  # warnings: each one makes the week's numbers partial
    info: tuple[str, ...] = ()  # context that casts no doubt (where costs came from, history depth)

    @property
    def partial(self) -> bool:
        return bool(self.notes)


@dataclass(frozen=True)
class DailySpend:
    day: date
    spot_usd: float
    on_demand_usd: float
    other_usd: float


@dataclass(frozen=True)
class WeeklyReport:
    week: IsoWeek
    generated_at: datetime
    has_data: bool
    total: Comparison | None
    weekly_history: tuple[tuple[str, float | None], ...]  # (week label, total or None) oldest first
    daily: tuple[DailySpend, ...]
    breakdowns: dict[str, tuple[BreakdownRow, ...]]
    utilization: Utilization | None
    spot: SpotSummary | None
    waste_by_class: dict[str, float]
    top_waste: tuple[WasteRow, ...]
    anomalies: tuple[Anomaly, ...]
    recommendations: tuple[RecommendationItem, ...]
    changes: tuple[AppliedChange, ...]
    coverage: Coverage
    anomaly_threshold: float
    title: str = field(default="")
    bill: BillWindow | None = None  # "Bill vs model": only when an imported bill covers a day of the week
    savings_headline_usd: float | None = None  # `optimizer.recommend.headline`, as on the Overview
    savings_note: str = ""  # what the headline leaves out, and the model's calibration error
    why: SpendChange | None = None  # the change vs the previous week split by driver (`report.why`)
    average_weeks: tuple[str, ...] = ()  # the full history weeks the 4-week average is over
    #: The smallest move an anomaly may be (`anomalies.material_floor`), None without data: a
    #: +42 % move under it is not listed, and the heading says so.
    anomaly_floor_usd: float | None = None

    @property
    def heading(self) -> str:
        return self.title or f"AWS Batch cost report, week {self.week.label}"


DRIVERS: dict[str, str] = {
    "volume": "Job volume",
    "price": "Price",
    "mix": "Mix (instance types, spot share)",
    "idle": "Idle capacity",
}
"""The parts of the week-over-week change (`optimizer.report.why`), in the order they are shown."""


@dataclass(frozen=True)
class Driver:
    """One part of the week-over-week change; `previous`/`current` are the figure it moved (unit)."""

    key: str  # a key of DRIVERS
    usd: float
    previous: float | None
    current: float | None
    unit: str
    detail: str


@dataclass(frozen=True)
class SpendChange:
    """The week's spend change against the previous week, split into parts that add up to it."""

    previous_usd: float
    current_usd: float
    drivers: tuple[Driver, ...]
    previous_partial: bool  # the previous week is where history begins: volume reads high

    @property
    def change_usd(self) -> float:
        return self.current_usd - self.previous_usd
