"""Anomalies worth a reader's attention: big week-over-week moves and new expensive job definitions.

A relative threshold alone flags noise ($0.02 -> $0.05 is +150%), so a move must also be material:
at least `min_usd` and at least `min_share` of the larger of this week's and last week's total.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from optimizer.analysis.cost import IDLE
from optimizer.report.fmt import short_arn
from optimizer.report.model import DIMENSIONS, Anomaly, BreakdownRow, Comparison
from optimizer.report.spend import history_weeks, week_slice, weeks_with_data
from optimizer.report.weeks import IsoWeek


@dataclass(frozen=True)
class AnomalyRules:
    threshold: float = 0.25  # relative week-over-week change (settings.report.anomaly_threshold)
    min_usd: float = 1.0
    min_share: float = 0.01


def material_floor(total: Comparison, rules: AnomalyRules) -> float:
    """The smallest move (USD) an anomaly may be: `min_usd`, or `min_share` of the larger of this
    week's and last week's total when that is more. The report states it beside the threshold."""
    return max(rules.min_usd, rules.min_share * max(total.current, total.previous or 0.0))


def _material(delta: float, total: Comparison, rules: AnomalyRules) -> bool:
    return abs(delta) >= material_floor(total, rules)


def _pct(value: float) -> str:
    return f"{value:+.0%}"


def new_job_definitions(
    daily: pd.DataFrame, week: IsoWeek, total: Comparison, rules: AnomalyRules
) -> list[Anomaly]:
    """Job definitions with material spend this week and none in the history weeks that have data."""
    present = weeks_with_data(daily)
    history = [w.label for w in history_weeks(week) if w.label in present]
    if not history:
        return []
    seen_before = set(daily[daily["week"].isin(history)]["job_definition_name"].astype(object).astype(str))
    current = week_slice(daily, week).groupby("job_definition_name", observed=True)["total_usd"].sum()
    out = []
    for key, usd in current.sort_values(ascending=False).items():
        name = str(key)
        if name in seen_before or name.startswith("("):
            continue
        if _material(float(usd), total, rules):
            out.append(
                Anomaly(
                    kind="new-job-definition",
                    dimension="job_definition_name",
                    key=name,
                    current_usd=float(usd),
                    previous_usd=None,
                    message=f"new job definition {name} cost ${usd:,.2f} "
                    f"(no spend in the previous {len(history)} week(s) with data)",
                )
            )
    return out


def week_over_week(
    breakdowns: dict[str, tuple[BreakdownRow, ...]],
    total: Comparison,
    rules: AnomalyRules,
    skip: set[tuple[str, str]],
) -> list[Anomaly]:
    """Total and per-key moves beyond the threshold; keys in `skip` are reported elsewhere."""
    candidates: list[tuple[str, str, Comparison]] = [("total", "spend", total)]
    for dim, rows in breakdowns.items():
        candidates += [(dim, row.key, row.spend) for row in rows if (dim, row.key) not in skip]
    out = []
    for dim, key, spend in candidates:
        if spend.previous is None:
            continue
        delta = spend.current - spend.previous
        change = spend.change_vs_previous
        beyond = change is None or abs(change) > rules.threshold  # None: from zero to something
        if delta == 0 or not beyond or not _material(delta, total, rules):
            continue
        label = "Idle capacity" if key == IDLE else f"{DIMENSIONS.get(dim, 'Total')} {short_arn(key)}"
        how = "new spend" if change is None else _pct(change)
        out.append(
            Anomaly(
                kind="week-over-week",
                dimension=dim,
                key=key,
                current_usd=spend.current,
                previous_usd=spend.previous,
                message=f"{label}: ${spend.previous:,.2f} -> ${spend.current:,.2f} ({how})",
            )
        )
    out.sort(key=lambda a: -abs(a.current_usd - (a.previous_usd or 0.0)))
    return out


def detect(
    daily: pd.DataFrame,
    week: IsoWeek,
    total: Comparison,
    breakdowns: dict[str, tuple[BreakdownRow, ...]],
    rules: AnomalyRules,
) -> tuple[Anomaly, ...]:
    new = new_job_definitions(daily, week, total, rules)
    skip = {(a.dimension, a.key) for a in new}
    return (*new, *deduplicated(week_over_week(breakdowns, total, rules, skip)))


def deduplicated(found: list[Anomaly]) -> list[Anomaly]:
    """One line per move: rows of *different* dimensions with the same amounts both weeks are one
    change seen through several breakdowns (idle capacity is "(idle)" as queue *and* as job
    definition; a queue served by one CE running one job definition moves all three alike), so
    the first (total, then queue, CE, job definition, capacity type) is kept and names the others.
    Two keys of one dimension are never merged, however alike their amounts."""
    groups: list[tuple[tuple[float, float | None], Anomaly, list[Anomaly]]] = []
    for a in found:
        move = (round(a.current_usd, 2), None if a.previous_usd is None else round(a.previous_usd, 2))
        home = next(
            (
                g
                for g in groups
                if g[0] == move and a.dimension not in {g[1].dimension, *(o.dimension for o in g[2])}
            ),
            None,
        )
        if home is None:
            groups.append((move, a, []))
        else:
            home[2].append(a)
    out = []
    for _, first, others in groups:
        names = [_name(o) for o in others if not (first.key == IDLE and o.key == IDLE)]
        out.append(
            replace(first, message=first.message + (f" (same move: {', '.join(names)})" if names else ""))
        )
    return out


def _name(a: Anomaly) -> str:
    return f"{DIMENSIONS.get(a.dimension, 'total').lower()} {short_arn(a.key)}"
