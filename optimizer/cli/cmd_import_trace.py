"""`batchopt import-trace`: load a job trace into the store as a named dataset, all or nothing."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from optimizer.cli._trace_args import add_mapping_arguments, mapping_from_args
from optimizer.cli.context import CliContext
from optimizer.errors import InputError
from optimizer.number_text import count_text
from optimizer.runtime.clock import utc_now
from optimizer.traces.formats import FORMATS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import-trace",
        help=(
            "import a job trace (SWF, Alibaba GPU v2023 pods or PAI v2020 tasks, DescribeJobs JSON, CSV)"
            " as a named dataset"
        ),
        description=(
            "Parse FILE completely, then write it to the store in one transaction: a malformed line "
            "is reported with its line number and nothing is written. The mapping of the trace's "
            "units to Batch requests is stored with the dataset."
        ),
    )
    p.add_argument("file", metavar="FILE", help="trace file (gzip is detected)")
    p.add_argument("--dataset", required=True, help="name of the dataset to create")
    p.add_argument(
        "--start",
        metavar="ISO8601",
        help="UTC datetime of the trace's second 0 (default: the trace's own, else 1970-01-01)",
    )
    p.add_argument("--replace", action="store_true", help="overwrite a dataset of the same name")
    add_mapping_arguments(p)
    p.set_defaults(handler=run)


def _parse_start(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--start: not an ISO 8601 datetime: {text!r}") from None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


#: Nodes one multi-node parallel job may have by default (AWS Batch user guide, "Node groups").
MNP_NODE_LIMIT = 1000


def _time_zero(given: datetime | None, in_file: datetime | None) -> str:
    """Where the trace's second 0 was put, and why: a log without `UnixStartTime` lands at the
    default date unless --start says otherwise, and its jobs' dates then mean nothing."""
    from optimizer.simulate.datasets import DEFAULT_START

    if given is not None:
        return f"{given:%Y-%m-%d %H:%M:%S} UTC (--start)"
    if in_file is not None:
        return f"{in_file:%Y-%m-%d %H:%M:%S} UTC (the file's start time)"
    return f"{DEFAULT_START:%Y-%m-%d %H:%M:%S} UTC (the file gives none: pass --start to date its jobs)"


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    from optimizer.simulate.datasets import import_trace
    from optimizer.traces import read_trace

    if not args.trace_format:
        raise InputError(f"--format is required ({', '.join(FORMATS[:-1])} or {FORMATS[-1]})")
    start = _parse_start(args.start)
    trace = read_trace(args.file, args.trace_format, mapping_from_args(args))
    written = import_trace(
        ctx.engine,
        trace,
        args.dataset,
        imported_at=utc_now(),
        start=start,
        replace=args.replace,
    )
    skipped = ", ".join(f"{n} {why}" for why, n in trace.skipped.items()) or "none"
    print(
        f"dataset {args.dataset}: {count_text(written, 'job')} imported"
        f" from {args.file} ({args.trace_format})"
    )
    print(f"skipped: {skipped}")
    print(f"time zero: {_time_zero(start, trace.start_time)}")
    if "mnp_parent" in trace.jobs:
        parents = trace.jobs["mnp_parent"].dropna()
        if len(parents):
            print(
                f"multi-node parallel: {parents.nunique()} jobs over {trace.mapping.max_vcpus_per_node:g} "
                f"vCPUs stored as parent + {len(parents)} node jobs"
            )
            widest = parents.value_counts()
            over = widest[widest > MNP_NODE_LIMIT]
            if len(over):
                # Batch user guide, node groups: "up to 1,000 nodes in a single job" (a raisable limit).
                print(
                    f"note: {len(over)} of them need more than {MNP_NODE_LIMIT:,} nodes (up to"
                    f" {int(over.max()):,}), Batch's default limit for one multi-node job; raise it, or"
                    " --max-vcpus-per-node"
                )
    mapping = trace.mapping.to_json()
    print("mapping: " + ", ".join(f"{k}={v}" for k, v in mapping.items() if k not in ("default_queue",)))
    return 0
