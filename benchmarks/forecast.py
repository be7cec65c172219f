"""Benchmark: the demand forecast against seasonal naive on the hourly vCPU demand of both real traces.

Traces (shared/data/traces, parsed by `optimizer.traces`): KTH SP2 (SWF, 28k jobs, 11 months) and
Alibaba GPU 2023 (pods created before day 135). Demand = vCPUs of running jobs per hour (start =
submit + recorded wait, as `optimizer.ml.demand` states), summed over queues.

Backtest (the same rule for both traces, nothing tuned per trace):
- the series ends at the hour of the last submission: after it the trace records no arrivals, so
  the demand it shows is the trace being cut off, not a workload;
- 28 rolling origins, one every 24 h, the last one 168 h before the end; at each origin the model
  is refitted on all hours before it and forecasts the next 168 h;
- MAE of the p50 forecast versus seasonal naive (same hour one week earlier) over those hours;
  target: >= 10% lower MAE on both traces. p90 coverage is reported too.

Run from the repository root: .venv/bin/python -m benchmarks.forecast
Prints a table, writes benchmarks/results/forecast.json, exits 1 when a target is missed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from benchmarks._common import Target, finish, shared_data
from optimizer.ml.demand import ALL_QUEUES, demand_from_trace
from optimizer.ml.forecast import HORIZON, DemandForecaster, backtest, rolling_origins
from optimizer.traces import read_trace

TRACES = (
    ("KTH-SP2 (SWF)", ("traces", "KTH-SP2-1996-2.1-cln.swf.gz"), "swf"),
    ("Alibaba GPU 2023", ("traces", "alibaba-gpu-v2023", "openb_pod_list_before_day135.csv"), "alibaba-gpu"),
)
ORIGINS = 28
STEP_HOURS = 24
TARGET = 0.10


def vcpu_series(path: Path, fmt: str) -> pd.Series:
    trace = read_trace(path, fmt)
    demand = demand_from_trace(trace.jobs, trace.start_time)
    series = demand[(ALL_QUEUES, "vcpus")]
    origin = pd.Timestamp(trace.start_time or "1970-01-01")
    last_submit = origin + pd.Timedelta(seconds=float(trace.jobs["submit_s"].max()))
    return series[series.index <= last_submit.floor("h")]


def main() -> int:
    data = shared_data()
    rows = []
    for label, parts, fmt in TRACES:
        series = vcpu_series(data.joinpath(*parts), fmt)
        origins = rolling_origins(series.index, count=ORIGINS, step_hours=STEP_HOURS)
        t0 = time.perf_counter()
        result = backtest(series, origins, forecaster=DemandForecaster())
        seconds = time.perf_counter() - t0
        rows.append(
            {
                "trace": label,
                "hours": len(series),
                "series_start": series.index[0].isoformat(),
                "series_end": series.index[-1].isoformat(),
                "first_origin": origins[0].isoformat(),
                "last_window_end": (origins[-1] + pd.Timedelta(hours=HORIZON - 1)).isoformat(),
                "origins": len(origins),
                "mae_p50": result.mae_model,
                "mae_seasonal_naive": result.mae_naive,
                "improvement": result.improvement,
                "p90_coverage": result.p90_coverage,
                "seconds": seconds,
                "passed": result.improvement >= TARGET,
            }
        )
    print("Demand forecast vs seasonal naive, hourly vCPU demand (machine shared; refit at every origin)")
    header = f"{'trace':<18} {'backtest windows (origins, every 24 h, 168 h each)':<52} "
    header += f"{'MAE p50':>8} {'MAE naive':>9} {'better':>7} {'p90 cov':>7} {'pass':>5}"
    print(header)
    for r in rows:
        window = f"{r['origins']} from {r['first_origin'][:13]} to {r['last_window_end'][:13]}"
        print(
            f"{r['trace']:<18} {window:<52} {r['mae_p50']:>8.2f} {r['mae_seasonal_naive']:>9.2f} "
            f"{r['improvement']:>7.1%} {r['p90_coverage']:>7.1%} {'yes' if r['passed'] else 'NO':>5}"
        )
    payload = {
        "target_improvement": TARGET,
        "horizon_hours": HORIZON,
        "step_hours": STEP_HOURS,
        "traces": rows,
    }
    targets = [
        Target(
            f"{r['trace']}: p50 MAE below seasonal naive",
            f"{r['improvement']:.1%}",
            f">= {TARGET:.0%} lower",
            r["passed"],
        )
        for r in rows
    ]
    return finish("forecast", payload, targets)


if __name__ == "__main__":
    sys.exit(main())
