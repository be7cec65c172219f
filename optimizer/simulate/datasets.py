"""Named job histories in the store: importing a trace, reading it back, saving a replay.

An imported trace becomes rows of `jobs` with its own `dataset` name (ids namespaced
`<dataset>:<id>`), plus one `datasets` row that says where second 0 is and how the trace's units
were mapped. Every write runs in one transaction: a failed import leaves nothing behind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, func, select

from optimizer.collectors.batch_fields import container_resources, node_range
from optimizer.errors import InputError, UserError
from optimizer.number_text import count_text
from optimizer.simulate.gang_runtime import ESTIMATE_COLUMNS, completed_gang_runs, estimate_gang_runtimes
from optimizer.simulate.never_started import is_multinode_row, never_started_blocked, never_started_gangs
from optimizer.simulate.records import namespaced, to_store_frames
from optimizer.simulate.results import ReplayResult
from optimizer.simulate.shares import shares_of
from optimizer.store.multinode_rows import mnp_columns_from_store, with_mnp_store_rows, with_unstarted_nodes
from optimizer.store.read import read_frame
from optimizer.store.schema import COLLECTED_DATASET, datasets, instances, job_attempts, job_definitions, jobs
from optimizer.store.upsert import bulk_upsert
from optimizer.traces.fields import plain_number
from optimizer.traces.schema import Trace

# Where second 0 goes when the trace does not say (Alibaba's trace has only relative seconds).
DEFAULT_START = datetime(1970, 1, 1)
#: The latest time a stored job may reach (its stop). The store's readers go through pandas, whose
#: timestamps end in 2262: a job stored past that broke `simulate` and `train` on its dataset with a
#: traceback, and a trace whose times run past 2200 has a unit or a field wrong anyway.
LATEST_JOB_TIME = datetime(2200, 1, 1)


def _json_or_none(value: Any) -> Any:
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def check_job_times(trace: Trace, start: datetime) -> None:
    """Refuse, naming the job, a trace whose time zero is before 1970 or whose jobs would stop
    after `LATEST_JOB_TIME` (submit + wait + runtime seconds from `start`)."""
    if not DEFAULT_START <= start < LATEST_JOB_TIME:
        first, last = DEFAULT_START.year, LATEST_JOB_TIME.year - 1
        raise InputError(f"time zero {start.isoformat(sep=' ')}: must lie in {first}-{last}")
    frame = trace.jobs
    wait = frame["wait_s"].fillna(0.0) if "wait_s" in frame else 0.0
    ends = (frame["submit_s"] + wait + frame["runtime_s"]).to_numpy(dtype=float)
    late = np.flatnonzero(~(ends < (LATEST_JOB_TIME - start).total_seconds()))
    if late.size:
        k = int(late[0])
        submit, runtime = (plain_number(float(frame[c].iat[k])) for c in ("submit_s", "runtime_s"))
        raise InputError(
            f"{trace.source}: job {frame['job_id'].iat[k]}: submit_s {submit} + runtime_s {runtime}"
            f" from {start:%Y-%m-%d} ends after {LATEST_JOB_TIME.year - 1} ({count_text(late.size, 'job')}):"
            " check the trace's time units"
        )


def trace_job_rows(trace: Trace, dataset: str, start: datetime) -> pd.DataFrame:
    """The trace's jobs as `jobs` rows: created = start + submit, started = created + wait."""
    check_job_times(trace, start)
    frame = trace.jobs
    n = len(frame)
    created = pd.Timestamp(start) + pd.to_timedelta(frame["submit_s"], unit="s")
    wait = frame["wait_s"].fillna(0.0) if "wait_s" in frame else pd.Series(np.zeros(n))
    started = created + pd.to_timedelta(wait, unit="s")
    stopped = started + pd.to_timedelta(frame["runtime_s"], unit="s")
    status = frame["status"] if "status" in frame else pd.Series(["SUCCEEDED"] * n)
    tags = []
    for k in range(n):
        tag: dict[str, str] = {}
        arch = frame["arch"].iat[k]
        if isinstance(arch, str) and arch:
            tag["arch"] = arch
        if "user" in frame and isinstance(frame["user"].iat[k], str):
            tag["user"] = frame["user"].iat[k]
        tags.append(tag or None)
    optional = {
        "depends_on": (
            [[f"{dataset}:{d}" for d in deps] for deps in frame["depends_on"]]
            if "depends_on" in frame
            else None
        ),
        "retry_attempts": frame.get("retry_attempts"),
        "retry_strategy": [_json_or_none(v) for v in frame["retry_strategy"]]
        if "retry_strategy" in frame
        else None,
        "scheduling_priority": frame.get("priority"),
        "share_identifier": frame.get("share_identifier"),
        "platform": frame.get("platform", "EC2"),
        # The node range's instanceTypes where the trace names them (DescribeJobs exports).
        "node_instance_types": [_json_or_none(v) for v in frame["node_instance_types"]]
        if "node_instance_types" in frame
        else None,
    }
    rows = pd.DataFrame(
        {
            "job_id": namespaced(dataset, frame["job_id"]),
            "dataset": dataset,
            "job_name": frame["job_name"],
            "queue": frame["queue"],
            "status": status.to_numpy(),
            "created_at": created,
            "started_at": started,
            "stopped_at": stopped,
            "vcpus": frame["vcpus"].astype(float),
            "memory_mib": np.ceil(frame["memory_mib"].astype(float)).astype(np.int64),
            "gpus": frame["gpus"].astype(np.int64),
            "tags": tags,
            "exit_code": np.where(status.to_numpy() == "FAILED", 1, 0),
            "is_multinode": False,
        }
    )
    for name, values in optional.items():
        if values is not None:
            rows[name] = values if not isinstance(values, pd.Series) else values.to_numpy()
    return with_mnp_store_rows(rows, frame, dataset)


def _type_lists(frame: pd.DataFrame) -> list[list[str] | None]:
    """Each row's stored node-range `instanceTypes` (a list, or None: the CE's types)."""
    if "node_instance_types" not in frame:
        return [None] * len(frame)
    return [[str(t) for t in v] if isinstance(v, list) and v else None for v in frame["node_instance_types"]]


def _definition_ranges(engine: Engine, parents: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """MNP parent id -> its job definition revision's `nodeProperties`, where the store has that
    revision (`job_definitions`, every revision a stored job ran) and its main node range asks what
    the parent row asks (the main range after the job's `nodeOverrides`): no override changed it,
    so the revision's other ranges are taken as the job's. The collector reads both with the same
    reader (`batch_fields`)."""
    if parents.empty or "job_definition" not in parents:
        return {}
    arns = [a for a in parents["job_definition"].dropna().unique().tolist() if str(a).startswith("arn:")]
    if not arns:
        return {}
    found = read_frame(
        engine, select(job_definitions.c.arn, job_definitions.c.raw).where(job_definitions.c.arn.in_(arns))
    )
    by_arn = {
        arn: raw["nodeProperties"]
        for arn, raw in zip(found["arn"], found["raw"], strict=True)
        if isinstance(raw, dict) and isinstance(raw.get("nodeProperties"), dict)
    }
    out: dict[str, dict[str, Any]] = {}
    columns = ("job_id", "job_definition", "vcpus", "memory_mib", "gpus")
    for job_id, arn, vcpus, memory, gpus in parents[list(columns)].itertuples(index=False):
        props = by_arn.get(arn)
        main = node_range(props, int(props.get("mainNode", 0) or 0)) if props else None
        if main is None:
            continue
        asked = container_resources(main.get("container") or {})
        if _same_requests(asked, (vcpus, memory, gpus)):
            out[str(job_id)] = props
    return out


def _same_requests(a: tuple[Any, Any, Any], b: tuple[Any, Any, Any]) -> bool:
    """(vcpus, memory MiB, gpus) equal, a missing GPU count being 0."""

    def number(value: Any, default: float | None) -> float | None:
        return default if value is None or pd.isna(value) else float(value)

    return all(number(x, d) == number(y, d) for x, y, d in zip(a, b, (None, None, 0.0), strict=True))


def _with_range_requests(
    frame: pd.DataFrame, made: pd.Series, ranges: dict[str, dict[str, Any]]
) -> pd.DataFrame:
    """Node rows made from a parent (`made`) take their node range's requests and `instanceTypes`
    from the parent's job definition (`_definition_ranges`) where it has a range for the node."""
    if not ranges or not made.any():
        return frame
    columns = {c: frame[c].tolist() for c in ("vcpus", "memory_mib", "gpus", "node_instance_types")}
    for position in np.flatnonzero(made.to_numpy()):
        props = ranges.get(str(frame["array_parent_id"].iat[position]))
        chosen = node_range(props, int(frame["array_index"].iat[position])) if props else None
        if chosen is None:
            continue
        vcpus, memory, gpus = container_resources(chosen.get("container") or {})
        if vcpus is None or memory is None:
            continue
        types = [str(t) for t in chosen.get("instanceTypes") or ()]
        for column, value in zip(columns, (vcpus, int(memory), int(gpus or 0), types or None), strict=True):
            columns[column][position] = value
    types = pd.Series(columns.pop("node_instance_types"), index=frame.index, dtype=object)
    numbers = {c: pd.to_numeric(pd.Series(v, index=frame.index)) for c, v in columns.items()}
    return frame.assign(node_instance_types=types, **numbers)


def dataset_exists(engine: Engine, name: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(datasets.c.name).where(datasets.c.name == name)).first() is not None


def require_dataset(engine: Engine, name: str) -> None:
    """Refuse a `--dataset` that names no history: read as empty, a mistyped name gave a report of
    "no cost data" that overwrote the week's good one, and empty analyses and trainings."""
    if name == COLLECTED_DATASET or dataset_exists(engine, name):
        return
    known = ", ".join(sorted({COLLECTED_DATASET, *stored_dataset_names(engine)}))
    raise UserError(f"--dataset {name!r}: no such dataset (known: {known})")


def stored_dataset_names(engine: Engine) -> list[str]:
    """The names of the datasets the store holds, sorted (what an unknown or empty one is told)."""
    with engine.connect() as conn:
        return sorted(str(n) for n in conn.execute(select(datasets.c.name)).scalars())


def _clear(conn: Any, name: str) -> None:
    ids = select(jobs.c.job_id).where(jobs.c.dataset == name)
    conn.execute(delete(job_attempts).where(job_attempts.c.job_id.in_(ids)))
    conn.execute(delete(jobs).where(jobs.c.dataset == name))
    conn.execute(delete(instances).where(instances.c.dataset == name))
    conn.execute(delete(datasets).where(datasets.c.name == name))


def check_dataset_name(engine: Engine, name: str, replace: bool) -> None:
    """Refuse a reserved or malformed name, or (unless `replace`) one already taken: before any
    work, so a replay or an import is not run only to be refused at the end."""
    if name == COLLECTED_DATASET:
        raise UserError(f"dataset name {name!r} is reserved for collected AWS history")
    if not name or ":" in name:
        raise UserError(f"dataset name {name!r}: must be non-empty and contain no ':'")
    if not replace and dataset_exists(engine, name):
        raise UserError(f"dataset {name!r} already exists (use --replace to overwrite it)")


def import_trace(
    engine: Engine,
    trace: Trace,
    name: str,
    *,
    imported_at: datetime,
    start: datetime | None = None,
    replace: bool = False,
) -> int:
    """Write the trace as dataset `name` in one transaction; returns the number of jobs written."""
    check_dataset_name(engine, name, replace)
    start = start or trace.start_time or DEFAULT_START
    rows = trace_job_rows(trace, name, start)
    with engine.begin() as conn:
        _clear(conn, name)
        bulk_upsert(
            conn,
            datasets,
            [
                {
                    "name": name,
                    "format": trace.format,
                    "source_file": trace.source,
                    "imported_at": imported_at,
                    "job_count": len(rows),
                    "start_time": start,
                    "mapping": trace.mapping_json(),
                }
            ],
        )
        bulk_upsert(conn, jobs, rows)
    return len(rows)


def _last_attempt_seconds(engine: Engine, jobs_query: Any) -> pd.Series:
    """Job id -> how long its last attempt with a start and a stop ran (one read of the attempts)."""
    ids = jobs_query.with_only_columns(jobs.c.job_id)
    tried = read_frame(
        engine,
        select(
            job_attempts.c.job_id,
            job_attempts.c.attempt,
            job_attempts.c.started_at,
            job_attempts.c.stopped_at,
        ).where(job_attempts.c.job_id.in_(ids)),
    )
    tried = tried[tried["started_at"].notna() & tried["stopped_at"].notna()]
    if tried.empty:
        return pd.Series(dtype=float)
    last = tried.sort_values(["job_id", "attempt"], kind="stable").drop_duplicates("job_id", keep="last")
    seconds = (last["stopped_at"] - last["started_at"]).dt.total_seconds().clip(lower=0)
    return pd.Series(seconds.to_numpy(), index=last["job_id"].to_numpy())


def _attempt_runtimes(frame: pd.DataFrame, last_attempt_s: pd.Series) -> pd.Series:
    """Each job's runtime as one attempt ran: its last attempt's duration, else the job's span.

    A job's `started_at`..`stopped_at` spans every attempt and the waits between them, and the
    replay runs the job again once per attempt its retry strategy allows: replaying the span would
    count a retried job's time twice over (on the demo estate, 2 GPU attempts of 9 h read as 2 x 18 h,
    +14 % on the replayed cost of the very configuration the history ran on). The last attempt is the
    one whose outcome the job kept (the success after a spot reclaim, or the final failure)."""
    span = (frame["stopped_at"] - frame["started_at"]).dt.total_seconds().clip(lower=0)
    if last_attempt_s.empty:
        return span
    return frame["job_id"].map(last_attempt_s).fillna(span)


def _gang_estimates(frame: pd.DataFrame, gangs: pd.Series, last_attempt_s: pd.Series) -> pd.DataFrame:
    """The run time each never-started gang (`gangs`, a mask of parent rows) is replayed for,
    estimated from the completed MNP runs among the same rows (`gang_runtime.py`)."""
    if not gangs.any():  # the usual history: nothing to estimate, no pass over its rows
        return pd.DataFrame(columns=list(ESTIMATE_COLUMNS))
    # As datetimes even when the store returned a column of None (no job of the scope started).
    times = {c: pd.to_datetime(frame[c]) for c in ("started_at", "stopped_at")}
    runs = completed_gang_runs(frame, _attempt_runtimes(frame.assign(**times), last_attempt_s))
    parents = frame[gangs]
    timeout = parents.get("timeout_seconds")
    return estimate_gang_runtimes(
        runs,
        pd.DataFrame(
            {
                "job_id": parents["job_id"].to_numpy(dtype=object),
                "job_definition_name": parents["job_definition_name"].to_numpy(dtype=object),
                "node_count": parents["node_count"].to_numpy(dtype=object),
                "queue": parents["queue"].to_numpy(dtype=object),
                "timeout_s": None if timeout is None else timeout.to_numpy(dtype=object),
            }
        ),
    )


def _estimate_records(estimates: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Gang id -> its estimate as plain values (NaN as None), what `describe_estimate` reads."""

    def plain(value: Any) -> Any:
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return None
        return value.item() if isinstance(value, np.generic) else value

    return {
        str(job_id): {k: plain(v) for k, v in row.items()}
        for job_id, row in estimates.to_dict("index").items()
    }


def _no_jobs_message(engine: Engine, name: str, region: str | None, account_id: str | None) -> str:
    """Why `load_dataset` found nothing: a dataset with jobs outside the scope asked for lists the
    scopes it has (it listed the known datasets, which answered a question nobody asked), else
    the known datasets."""
    scope = "".join(f" in {k} {v}" for k, v in (("region", region), ("account", account_id)) if v)
    held = read_frame(
        engine, select(jobs.c.region, jobs.c.account_id).where(jobs.c.dataset == name).distinct()
    )
    if not held.empty:
        # (only the scopes the asked value is missing from: a region the jobs are in is no news)
        values = {c: sorted({str(v) for v in held[c].dropna()}) for c in ("region", "account_id")}
        parts = [
            f"its {label}: {', '.join(values[column]) or 'none recorded'}"
            for label, column, asked in (
                ("regions", "region", region),
                ("accounts", "account_id", account_id),
            )
            if asked is not None and asked not in values[column]
        ]
        pairs = ", ".join(f"{r} {a}" for r, a in sorted(held.astype(str).itertuples(index=False)))
        held_text = "; ".join(parts) or f"its region and account pairs: {pairs}"
        return f"dataset {name!r} has no jobs{scope} ({held_text})"
    known = stored_dataset_names(engine)
    hint = f" (known: {', '.join(known)})" if known else " (import one with `batchopt import-trace`)"
    return f"dataset {name!r} has no jobs{scope}{hint}"


def load_dataset(
    engine: Engine, name: str, *, region: str | None = None, account_id: str | None = None
) -> tuple[pd.DataFrame, datetime]:
    """A stored dataset back as the canonical trace table, and its start time.

    Works for collected history too (`aws`): second 0 is then its first job's creation. `region` and
    `account_id` keep the jobs of one scope (CE and queue names are unique only there, so a replay of
    one region's configuration must not see another region's jobs); jobs that carry no region or
    account (imported traces) belong to every scope. Second 0 stays the dataset's, so a scoped
    replay and the same scope's evidence command agree to the second.
    """
    info = read_frame(engine, select(datasets).where(datasets.c.name == name))
    origin = read_frame(engine, select(func.min(jobs.c.created_at)).where(jobs.c.dataset == name)).iat[0, 0]
    # The scope filter runs in SQL: each region's replay reads its own jobs, not the whole dataset.
    query = select(jobs).where(jobs.c.dataset == name)
    for column, value in ((jobs.c.region, region), (jobs.c.account_id, account_id)):
        if value is not None:
            query = query.where(column.is_(None) | (column == value))
    frame = read_frame(engine, query)
    if frame.empty:
        raise UserError(_no_jobs_message(engine, name, region, account_id))
    # Only finished jobs with known requests can be replayed (collected RUNNING jobs have no runtime),
    # and jobs that never started (`never_started.py`): those no compute environment could host
    # (runtime 0, none is known) blocked their queue's head, which the replay models
    # (`head_blocking.py`), and MNP jobs that never started become gangs the replay places or
    # blocks (`gangs.py`: Batch runs none on Spot), their nodes made from the parent where the store
    # has none (`with_unstarted_nodes`), each running for the run time estimated from the history's
    # completed runs of its kind (`gang_runtime.py`; 0 when there are none).
    frame = frame.reset_index(drop=True)
    gangs = never_started_gangs(frame)
    last_attempt_s = _last_attempt_seconds(engine, query)
    estimates = _gang_estimates(frame, gangs, last_attempt_s)
    stored = len(frame)
    frame, gang_nodes = with_unstarted_nodes(frame, gangs)
    gangs = gangs.reindex(frame.index, fill_value=False)
    made = pd.Series(frame.index >= stored, index=frame.index)
    frame = _with_range_requests(frame, made, _definition_ranges(engine, frame[gangs]))
    blocked = frame["started_at"].isna() & never_started_blocked(frame["status_reason"])
    blocked &= ~is_multinode_row(frame)
    unstarted_gang = (gangs | gang_nodes) & frame["started_at"].isna()
    never = blocked | unstarted_gang
    frame = frame.assign(
        # As datetimes even when the store returned a column of None (no job of the scope started).
        started_at=pd.to_datetime(frame["started_at"].where(~never, frame["created_at"])),
        stopped_at=pd.to_datetime(frame["stopped_at"].where(~never, frame["created_at"])),
        # A gang that never ran has no outcome: the replay runs it as one that would succeed (a
        # cancelled one is FAILED in the store, which would fail it wherever it is placed).
        status=frame["status"].where(~unstarted_gang, "SUCCEEDED"),
        never_started=never,
    )
    frame = frame[frame["started_at"].notna() & frame["stopped_at"].notna() & frame["vcpus"].notna()]
    frame = frame[frame["memory_mib"].notna()]
    if frame.empty:
        raise UserError(f"dataset {name!r} has no finished jobs with vCPU and memory requests")
    start = info["start_time"].iat[0] if len(info) else origin
    start = pd.Timestamp(start).to_pydatetime()
    prefix = f"{name}:"
    frame, mnp_parent, node_index, num_nodes = mnp_columns_from_store(frame)
    # A never-started gang's nodes run for its estimate (its span is 0: it never started).
    estimate = mnp_parent.map(estimates["runtime_s"]) if len(estimates) else None
    runtime = _attempt_runtimes(frame, last_attempt_s)
    if estimate is not None:
        runtime = runtime.where(~(frame["never_started"] & estimate.notna()), estimate)
    records = _estimate_records(estimates)
    estimated = (
        [
            records.get(p) if never and isinstance(p, str) else None
            for p, never in zip(mnp_parent, frame["never_started"], strict=True)
        ]
        if records
        else [None] * len(frame)
    )

    def strip(job_id: str) -> str:
        return job_id[len(prefix) :] if job_id.startswith(prefix) else job_id

    tags = frame["tags"].tolist()
    canonical = pd.DataFrame(
        {
            "job_id": frame["job_id"].map(strip),
            "submit_s": (frame["created_at"] - pd.Timestamp(start)).dt.total_seconds(),
            "runtime_s": runtime,
            "vcpus": frame["vcpus"].astype(float),
            "memory_mib": frame["memory_mib"].astype(float),
            "gpus": frame["gpus"].fillna(0).astype(np.int64),
            "queue": frame["queue"].fillna("default"),
            "job_name": frame["job_name"].fillna(frame["job_id"]),
            # Imported traces keep the architecture in tags; collected jobs' tags are the user's own.
            "arch": [
                t.get("arch") if isinstance(t, dict) and name != COLLECTED_DATASET else None for t in tags
            ],
            "status": np.where(frame["status"] == "FAILED", "FAILED", "SUCCEEDED"),
            "depends_on": [
                [strip(d) for d in deps] if isinstance(deps, list) else [] for deps in frame["depends_on"]
            ],
            "retry_strategy": frame["retry_strategy"].tolist(),
            # Lets a replay edit one definition's requests (right-sizing, `simulate --resize`).
            "job_definition_name": frame["job_definition_name"].tolist(),
            # Fair-share replays and the `fair-share` strategy read each job's share the same way.
            "share_identifier": shares_of(frame["share_identifier"], tags),
            # Orders jobs within a share of a fair-share queue (`fair_share.py`).
            "scheduling_priority": frame["scheduling_priority"].to_numpy(),
            "mnp_parent": [strip(p) if isinstance(p, str) else None for p in mnp_parent],
            "node_index": node_index.to_numpy(),
            "num_nodes": num_nodes.to_numpy(),
            # Where a node's range names instance types, the replay places it only on those.
            "node_instance_types": _type_lists(frame),
            # Kept though it never started (`never_started.py`): its runtime is not a measurement
            # (0, or a gang's estimate from completed runs, whose `gang_runtime.py` record, level and
            # runs included, is `runtime_estimate` on each of its nodes; None on every other row).
            "never_started": frame["never_started"].to_numpy(dtype=bool),
            "runtime_estimate": estimated,
        }
    )
    canonical = canonical.sort_values(["submit_s", "job_id"], kind="stable").reset_index(drop=True)
    return canonical, start


def save_replay(
    engine: Engine,
    result: ReplayResult,
    name: str,
    *,
    anchor: datetime,
    source: str,
    imported_at: datetime,
    mapping: dict[str, Any],
    replace: bool = False,
) -> int:
    """Store a replay as dataset `name` (jobs, attempts, instances) in one transaction."""
    check_dataset_name(engine, name, replace)
    frames = to_store_frames(result, anchor=anchor, dataset=name)
    with engine.begin() as conn:
        _clear(conn, name)
        bulk_upsert(
            conn,
            datasets,
            [
                {
                    "name": name,
                    "format": "replay",
                    "source_file": source,
                    "imported_at": imported_at,
                    "job_count": len(frames["jobs"]),
                    "start_time": anchor,
                    "mapping": mapping,
                }
            ],
        )
        bulk_upsert(conn, jobs, frames["jobs"])
        bulk_upsert(conn, job_attempts, frames["job_attempts"])
        bulk_upsert(conn, instances, frames["instances"])
    return len(frames["jobs"])
