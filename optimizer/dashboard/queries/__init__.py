"""The cached reads behind the pages.

One read path: a figure the store's repositories or the analysis already define is read through
them (`analysis/stored.py` for costs, tags, utilization and the applies realized savings measure;
`recommend/repository.py` and `apply/records.py` for recommendations, plans and the audit trail;
`fleet/plans.py` for fleet plans; `store/runs_read.py` for collector runs; `billing/window.py` for
the bill), cached per store URL (`cache.py`). What only the dashboard asks (right-sizing histograms,
spot reclaim rates, which CEs serve a queue) is SQL in the small module of its page. Aggregation
happens in SQL, so a page reads a few hundred rows however many jobs are stored; nothing here calls
AWS, and nothing here writes (writes go through `dashboard/actions.py` and the apply service).

A few views read beside this package, each through the same owners: `coverage_view.py`
(`store/coverage_read.py`), `headline_view.py` (`recommend.headline.stored_headline`), the
Recommendations page (`recommend/repository.py`); and two dashboard-only reads: `spot_feeds.py`
(how old each price feed is) and `replay_compare.py` (the what-if's current queue and CEs).

Pages import this package and call `queries.<name>`; the modules say where each read lives.
"""

from optimizer.analysis.cost import WASTE_LABELS
from optimizer.analysis.rollup import allocated_share
from optimizer.dashboard.queries.cache import TTL_SECONDS
from optimizer.dashboard.queries.cost import (
    COST_DIMS,
    COST_SUMS,
    bill_imported,
    bill_month_to_date,
    bill_window,
    cost_by_tag,
    cost_data_end,
    cost_datasets,
    cost_day_range,
    cost_filter_values,
    cost_summary,
    last_full_day,
    mnp_figures,
    prior_window,
    realized_savings,
    tag_keys,
    utilization_totals,
    window_before,
)
from optimizer.dashboard.queries.fleet import (
    compute_environment_list,
    fleet_plan_documents,
    fleet_plan_list,
    queue_compute_environments,
    queue_last_stop,
)
from optimizer.dashboard.queries.recommendations import (
    latest_change_plan,
    recommendation_history,
    recommendation_row,
    recommendations_for_target_kind,
    stored_recommendations,
)
from optimizer.dashboard.queries.rightsizing import (
    definition_evidence,
    job_datasets,
    recent_window,
    rightsizing_summary,
    usage_ratio_histogram,
)
from optimizer.dashboard.queries.runs import data_freshness, recent_runs, scheduled_jobs
from optimizer.dashboard.queries.spot import (
    interruption_bands,
    reclaimed_work,
    spot_instance_hours,
    spot_price_history,
    spot_reclaims,
    spot_series_keys,
)

__all__ = [
    "COST_DIMS",
    "COST_SUMS",
    "TTL_SECONDS",
    "WASTE_LABELS",
    "allocated_share",
    "bill_imported",
    "bill_month_to_date",
    "bill_window",
    "compute_environment_list",
    "cost_by_tag",
    "cost_data_end",
    "cost_datasets",
    "cost_day_range",
    "cost_filter_values",
    "cost_summary",
    "data_freshness",
    "definition_evidence",
    "fleet_plan_documents",
    "fleet_plan_list",
    "interruption_bands",
    "job_datasets",
    "last_full_day",
    "latest_change_plan",
    "mnp_figures",
    "prior_window",
    "queue_compute_environments",
    "queue_last_stop",
    "realized_savings",
    "recent_runs",
    "recent_window",
    "reclaimed_work",
    "recommendation_history",
    "recommendation_row",
    "recommendations_for_target_kind",
    "rightsizing_summary",
    "scheduled_jobs",
    "spot_instance_hours",
    "spot_price_history",
    "spot_reclaims",
    "spot_series_keys",
    "stored_recommendations",
    "tag_keys",
    "usage_ratio_histogram",
    "utilization_totals",
    "window_before",
]
