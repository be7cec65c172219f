"""Usage model for right-sizing: a high quantile of each job's peak memory (and vCPUs), with an
out-of-memory risk that is measured, not assumed.

Two recommenders, both calibrated by split conformal prediction so that on exchangeable data at most
`alpha` (default 1%) of future jobs exceed the recommendation:

- per job definition (`DefinitionQuantiles`): one memory value per definition, the
  ceil((n+1)(1-alpha))-th smallest peak of its n calibration jobs; that is what a new job-definition
  revision can carry. Definitions with fewer than (1-alpha)/alpha jobs (99 at 1%) get no
  recommendation: there is not enough evidence for a 1% guarantee.
- per job (`UsageQuantileModel`): gradient-boosted quantile regression of log peak memory on the
  job definition, its name pattern, its requests and its numeric job parameters (where parameters
  such as an input size predict usage, a per-job override at submit time saves more), shifted by
  the conformal quantile of its calibration residuals.

Memory is rounded up to 128 MiB, vCPUs up to a whole vCPU (EC2 jobs take whole vCPUs).
`evaluate` scores a recommender on held-back jobs: the share of jobs whose peak exceeded the
recommendation, and the memory cut = 1 - sum(recommended) / sum(requested).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from optimizer.analysis.rightsizing import name_pattern

MEMORY_STEP_MIB = 128
MAX_PARAMETERS = 8


def _round_up(values: np.ndarray, step: float) -> np.ndarray:
    return np.ceil(np.asarray(values, dtype=np.float64) / step - 1e-9) * step


def conformal_rank(n: int, alpha: float) -> int | None:
    """1-based rank of the calibration score to use; None when n is too small for the guarantee."""
    rank = math.ceil((n + 1) * (1 - alpha))
    return rank if rank <= n else None


def usage_frame(jobs: pd.DataFrame, attempts: pd.DataFrame) -> pd.DataFrame:
    """One row per attempt with usage: the job's definition, pattern, requests, parameters, peaks.

    Every attempt with a measured peak counts, including OOM-killed ones (their peak is at least
    the limit: they are the jobs the recommendation must not starve).
    """
    cols = [
        c
        for c in (
            "job_id",
            "job_definition_name",
            "job_name",
            "vcpus",
            "memory_mib",
            "parameters",
            "created_at",
        )
        if c in jobs.columns
    ]
    frame = attempts.merge(jobs[cols].drop_duplicates("job_id"), on="job_id", how="inner")
    frame = frame.dropna(subset=["peak_memory_mib"])
    frame = frame[pd.to_numeric(frame["memory_mib"], errors="coerce") > 0].copy()
    frame["job_definition_name"] = frame["job_definition_name"].astype(object).fillna("(none)")
    frame["name_pattern"] = frame.get("job_name", pd.Series(None, index=frame.index)).map(name_pattern)
    for col in ("memory_mib", "vcpus", "peak_memory_mib", "peak_vcpus"):
        frame[col] = pd.to_numeric(frame.get(col), errors="coerce").astype(np.float64)
    if "parameters" not in frame.columns:
        frame["parameters"] = None
    return frame.reset_index(drop=True)


def time_split(frame: pd.DataFrame, fractions: tuple[float, float] = (0.6, 0.2)) -> tuple[pd.DataFrame, ...]:
    """(train, calibration, test) in time order when `created_at` is known: the test is the future."""
    order = frame.sort_values("created_at", kind="stable") if "created_at" in frame else frame
    n = len(order)
    a = int(n * fractions[0])
    b = int(n * (fractions[0] + fractions[1]))
    return order.iloc[:a], order.iloc[a:b], order.iloc[b:]


@dataclass
class DefinitionQuantiles:
    """Per job definition: the conformal (1 - alpha) quantile of peak memory and vCPUs."""

    alpha: float = 0.01
    memory_mib: dict[str, float] = field(default_factory=dict)
    vcpus: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, int] = field(default_factory=dict)

    def fit(self, calibration: pd.DataFrame) -> DefinitionQuantiles:
        for definition, group in calibration.groupby("job_definition_name"):
            peaks = np.sort(group["peak_memory_mib"].to_numpy())
            rank = conformal_rank(len(peaks), self.alpha)
            self.evidence[str(definition)] = len(peaks)
            if rank is None:
                continue
            self.memory_mib[str(definition)] = float(_round_up(peaks[rank - 1], MEMORY_STEP_MIB))
            cpu = np.sort(group["peak_vcpus"].dropna().to_numpy())
            cpu_rank = conformal_rank(len(cpu), self.alpha)
            if cpu_rank is not None:
                self.vcpus[str(definition)] = float(max(1.0, math.ceil(cpu[cpu_rank - 1] - 1e-9)))
        return self

    def recommend(self, frame: pd.DataFrame) -> np.ndarray:
        """Recommended memory per row; the current request where the definition has no evidence."""
        rec = frame["job_definition_name"].map(self.memory_mib).to_numpy(dtype=np.float64)
        return np.where(np.isnan(rec), frame["memory_mib"].to_numpy(np.float64), rec)


def _numeric_parameters(values: pd.Series, keys: list[str]) -> pd.DataFrame:
    out: dict[str, list[float]] = {k: [] for k in keys}
    for params in values:
        params = params if isinstance(params, dict) else {}
        for key in keys:
            try:
                out[key].append(float(params.get(key)))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                out[key].append(np.nan)
    return pd.DataFrame({f"param:{k}": v for k, v in out.items()}, index=values.index)


@dataclass
class UsageQuantileModel:
    """Per-job recommendation: quantile GBM on log peak memory + a conformal shift (module doc)."""

    alpha: float = 0.01
    base_quantile: float = 0.9
    seed: int = 0
    definitions: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    parameter_keys: list[str] = field(default_factory=list)
    model: Any = None
    shift: float = 0.0  # added to log peak predictions
    feature_names: list[str] = field(default_factory=list)

    def _features(self, frame: pd.DataFrame) -> pd.DataFrame:
        defs = {d: i for i, d in enumerate(self.definitions)}
        pats = {p: i for i, p in enumerate(self.patterns)}
        x = pd.DataFrame(
            {
                "definition": frame["job_definition_name"].map(defs).fillna(-1).astype(int).to_numpy(),
                "pattern": frame["name_pattern"].map(pats).fillna(-1).astype(int).to_numpy(),
                "requested_memory_mib": frame["memory_mib"].to_numpy(np.float64),
                "requested_vcpus": frame["vcpus"].to_numpy(np.float64),
            }
        )
        params = _numeric_parameters(frame["parameters"].reset_index(drop=True), self.parameter_keys)
        x = pd.concat([x, params.reset_index(drop=True)], axis=1)
        # unseen categories become missing, which the trees route like rare values
        x["definition"] = x["definition"].where(x["definition"] >= 0, np.nan)
        x["pattern"] = x["pattern"].where(x["pattern"] >= 0, np.nan)
        return x

    def fit(self, train: pd.DataFrame, calibration: pd.DataFrame) -> UsageQuantileModel:
        self.definitions = sorted(train["job_definition_name"].astype(str).unique())
        self.patterns = sorted(train["name_pattern"].astype(str).unique())[:250]
        counts: Counter[str] = Counter()
        for params in train["parameters"]:
            if isinstance(params, dict):
                for k, v in params.items():
                    try:
                        float(v)
                        counts[str(k)] += 1
                    except (TypeError, ValueError):
                        continue
        self.parameter_keys = [k for k, _ in counts.most_common(MAX_PARAMETERS)]
        x = self._features(train)
        self.feature_names = list(x.columns)
        y = np.log1p(train["peak_memory_mib"].to_numpy(np.float64))
        with threadpool_limits(limits=1, user_api="openmp"):  # small data: threads only contend
            self._fit(x, y, calibration)
        return self

    def _fit(self, x: pd.DataFrame, y: np.ndarray, calibration: pd.DataFrame) -> None:
        self.model = HistGradientBoostingRegressor(
            loss="quantile",
            quantile=self.base_quantile,
            max_iter=200,
            learning_rate=0.05,
            min_samples_leaf=20,
            categorical_features=[0, 1],
            random_state=self.seed,
        ).fit(x, y)
        scores = np.log1p(calibration["peak_memory_mib"].to_numpy(np.float64)) - self.model.predict(
            self._features(calibration)
        )
        rank = conformal_rank(len(scores), self.alpha)
        self.shift = (
            float(np.sort(scores)[rank - 1]) if rank is not None else float(np.max(scores, initial=0.0))
        )
        return self

    def recommend(self, frame: pd.DataFrame) -> np.ndarray:
        with threadpool_limits(limits=1, user_api="openmp"):
            raw = self.model.predict(self._features(frame))
        pred = np.expm1(raw + self.shift)
        return _round_up(np.maximum(pred, MEMORY_STEP_MIB), MEMORY_STEP_MIB)


@dataclass(frozen=True)
class UsageEvaluation:
    jobs: int
    exceeded: int
    exceeded_share: float
    requested_mib: float
    recommended_mib: float
    memory_cut: float  # 1 - recommended / requested
    raised_jobs: int  # recommendations above the current request (jobs that were near or over it)

    def to_json(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.__dict__.items()}


def evaluate(frame: pd.DataFrame, recommended: np.ndarray) -> UsageEvaluation:
    """Score recommendations on held-back jobs (exceeded: peak above the recommendation)."""
    peak = frame["peak_memory_mib"].to_numpy(np.float64)
    req = frame["memory_mib"].to_numpy(np.float64)
    exceeded = int((peak > recommended + 1e-9).sum())
    n = len(frame)
    return UsageEvaluation(
        jobs=n,
        exceeded=exceeded,
        exceeded_share=exceeded / n if n else float("nan"),
        requested_mib=float(req.sum()),
        recommended_mib=float(np.sum(recommended)),
        memory_cut=1.0 - float(np.sum(recommended)) / float(req.sum()) if n else float("nan"),
        raised_jobs=int((recommended > req).sum()),
    )
