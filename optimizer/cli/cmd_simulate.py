"""`batchopt simulate`: replay a job history on one or more proposed Batch configurations.

Several `--config` files replay the same history side by side, so comparing the current and a
proposed configuration is one command. The history comes from the store (`--dataset`) or straight
from a trace file (`--trace FILE --format X`), which needs no store at all.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizer.cli._trace_args import add_mapping_arguments, mapping_from_args
from optimizer.cli.context import CliContext
from optimizer.cli.output_files import prepare_output, write_atomic
from optimizer.errors import InputError, UserError
from optimizer.runtime.clock import utc_now

if TYPE_CHECKING:
    import pandas as pd

ATTEMPT_COLUMNS = [
    "job_id",
    "attempt",
    "queue",
    "submitted_at",
    "started_at",
    "ended_at",
    "instance_id",
    "instance_type",
    "capacity_type",
    "compute_environment",
    "status",
    "exit_code",
    "reason",
    "is_spot_reclaim",
]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="replay a job history on proposed compute environments and queues",
        description=(
            "Replay the jobs of a dataset (or a trace file) on each configuration: a JSON document "
            '{"computeEnvironments": [...], "jobQueues": [...]} of CreateComputeEnvironment and '
            'CreateJobQueue request bodies (optional "simulation": seed, launchDelaySeconds, '
            "scaleInIdleSeconds, fargateStartDelaySeconds, defaultRetryStrategy). Jobs whose queue "
            "the document does not name run on its first queue."
        ),
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="a dataset in the store (imported trace, or 'aws')")
    source.add_argument("--trace", metavar="FILE", help="a trace file, replayed without the store")
    p.add_argument(
        "--config",
        dest="replay_configs",
        metavar="FILE",
        action="append",
        required=True,
        help="configuration JSON; repeat to compare configurations on the same history",
    )
    p.add_argument("--out", metavar="RESULT.json", help="write the results as JSON")
    p.add_argument("--jobs-out", metavar="JOBS.csv", help="write one row per attempt (seconds since start)")
    p.add_argument("--seed", type=int, help="override the configurations' seed")
    p.add_argument("--prices", metavar="CSV", help="EC2 price/spec table (default: store, else bundled)")
    p.add_argument("--spot-advisor", metavar="JSON", help="Spot Advisor feed (default: store, else bundled)")
    p.add_argument(
        "--region",
        default="us-east-1",
        help="region of the prices and, with --dataset, of the collected jobs replayed (default %(default)s)",
    )
    p.add_argument("--account", help="with --dataset: replay only this account's collected jobs")
    p.add_argument(
        "--resize",
        metavar="NAME:memory_mib=MIB[,vcpus=N]",
        action="append",
        default=[],
        help="with --dataset: replay the jobs of job definition NAME with these requests "
        "(what a right-sizing revision changes); repeatable",
    )
    p.add_argument(
        "--node-split",
        metavar="NAME:vcpus_per_node=N[,runtime_exponent=E]",
        action="append",
        default=[],
        help="with --dataset: replay the multi-node parallel jobs of job definition NAME split into "
        "nodes of at most N vCPUs, same total vCPUs, runtime x (new/old nodes)^E (default E 0: "
        "unchanged); what a node-size revision changes; repeatable",
    )
    p.add_argument(
        "--save-dataset",
        metavar="NAME",
        help="also store the replay (jobs, attempts, instances) as dataset NAME (single --config only)",
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="with --save-dataset: overwrite an existing dataset of that name",
    )
    add_mapping_arguments(p)
    p.set_defaults(handler=run)


def _catalog(args: argparse.Namespace, ctx: CliContext | None) -> Any:
    """The region's catalogue, as every other command and page builds it (files given first, then
    the store, then the bundled snapshots)."""
    from optimizer.catalog.from_store import catalog_for_region
    from optimizer.simulate import catalog_from_provider

    provider = catalog_for_region(
        ctx.engine if ctx is not None else None,
        args.region,
        prices_path=args.prices,
        spot_advisor_path=args.spot_advisor,
    )
    return catalog_from_provider(provider), provider.describe_sources()


def _read_config_file(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} line {exc.lineno}: invalid JSON: {exc.msg}") from None


def _fmt_money(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"${value:,.2f}"


def _fmt_s(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.0f}s"


def results_table(names: list[str], summaries: list[dict[str, Any]]) -> list[list[str]]:
    """Rows (metric, value per configuration) of the printed comparison."""
    rows: list[list[str]] = [["metric", *names]]
    rows.append(["total cost", *(_fmt_money(s["total_cost_usd"]) for s in summaries)])
    kinds = sorted({k for s in summaries for k in s["cost_by_capacity_type"]})
    for kind in kinds:
        rows.append(
            [f"  cost {kind}", *(_fmt_money(s["cost_by_capacity_type"].get(kind)) for s in summaries)]
        )
    top: list[str] = []
    for s in summaries:  # the five dearest instance types of each configuration
        top += [t for t in list(s["cost_by_instance_type"])[:5] if t not in top]
    for name in top:
        rows.append(
            [f"  cost {name}", *(_fmt_money(s["cost_by_instance_type"].get(name)) for s in summaries)]
        )
    rows.append(["instance-hours", *(f"{s['instance_hours']:,.1f}" for s in summaries)])
    rows.append(["instances launched", *(f"{s['instances_launched']:,}" for s in summaries)])
    for key in ("vcpu", "memory"):
        rows.append(
            [
                f"utilization {key}",
                *(
                    "-" if s["utilization"][key] is None else f"{100 * s['utilization'][key]:.1f}%"
                    for s in summaries
                ),
            ]
        )
    queues = sorted({q for s in summaries for q in s["queue_wait_s"]}, key=lambda q: (q != "ALL", q))
    for queue in queues:
        for quantile in ("p50_s", "p95_s", "p99_s"):
            label = f"wait {queue} {quantile[:-2]}"
            rows.append([label, *(_fmt_s(s["queue_wait_s"].get(queue, {}).get(quantile)) for s in summaries)])
    rows.append(["makespan", *(_fmt_s(s["makespan_s"]) for s in summaries)])
    for key, label in (("jobs", "jobs"), ("succeeded", "succeeded"), ("failed", "failed jobs")):
        rows.append([label, *(f"{s[key]:,}" for s in summaries)])
    rows.append(["attempts", *(f"{s['attempts']:,}" for s in summaries)])
    rows.append(["spot reclaims (attempts)", *(f"{s['spot_reclaims']:,}" for s in summaries)])
    rows.append(["instances reclaimed", *(f"{s['instances_reclaimed']:,}" for s in summaries)])
    if any("mnp_jobs" in s for s in summaries):  # multi-node parallel jobs (simulate/gangs.py)
        rows.append(
            [
                "MNP jobs (node jobs)",
                *(f"{s.get('mnp_jobs', 0):,} ({s.get('mnp_node_jobs', 0):,})" for s in summaries),
            ]
        )
        rows.append(
            [
                "gang-formation idle",
                *(
                    f"{s.get('gang_formation_idle_instance_hours', 0.0):,.1f} h, "
                    f"{_fmt_money(s.get('gang_formation_idle_cost_usd', 0.0))}"
                    for s in summaries
                ),
            ]
        )
    return rows


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [v.rjust(w) for v, w in zip(row[1:], widths[1:], strict=True)]
        print("  ".join(cells).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def attempt_rows(result: Any) -> pd.DataFrame:
    """One row per attempt; jobs that never started get one row (no attempt) so failures show."""
    import pandas as pd

    attempts = result.attempts[ATTEMPT_COLUMNS]
    never = result.jobs[result.jobs["attempt_count"] == 0]
    if never.empty:
        return attempts
    extra = pd.DataFrame(
        {
            "job_id": never["job_id"],
            "attempt": pd.array([None] * len(never), dtype="Int64"),
            "queue": never["queue"],
            "submitted_at": never["submitted_at"],
            "started_at": float("nan"),
            "ended_at": never["ended_at"],
            "status": never["status"],
            "reason": never["status_reason"],
            "is_spot_reclaim": False,
        }
    )
    extra = extra.reindex(columns=ATTEMPT_COLUMNS)
    extra["exit_code"] = pd.array([None] * len(extra), dtype="Int64")
    return pd.concat([attempts, extra], ignore_index=True)


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    import pandas as pd

    from optimizer.simulate import parse_config, replay
    from optimizer.simulate.config import refuse_all_disabled
    from optimizer.traces import read_trace

    if args.save_dataset and len(args.replay_configs) > 1:
        raise UserError("--save-dataset stores one replay: give a single --config")
    prepare_output("--out", args.out)
    prepare_output("--jobs-out", args.jobs_out)
    if args.replace and not args.save_dataset:
        raise UserError("--replace goes with --save-dataset (the dataset it overwrites)")
    if args.save_dataset:
        from optimizer.simulate.datasets import check_dataset_name

        check_dataset_name(ctx.engine, args.save_dataset, args.replace)
    if (args.resize or args.node_split) and not args.dataset:
        raise UserError("--resize and --node-split need --dataset (trace files carry no job definitions)")
    if args.trace:
        if not args.trace_format:
            from optimizer.traces.formats import FORMATS

            raise InputError(f"--trace needs --format ({', '.join(FORMATS)})")
        trace = read_trace(args.trace, args.trace_format, mapping_from_args(args))
        jobs, start, history = trace.jobs, trace.start_time, args.trace
        catalog, sources = _catalog(args, None)
    else:
        from optimizer.simulate.datasets import load_dataset

        jobs, start = load_dataset(ctx.engine, args.dataset, region=args.region, account_id=args.account)
        history = f"dataset {args.dataset}"
        if args.resize:
            from optimizer.simulate.resize import parse_resize, resize_definitions

            jobs, changed = resize_definitions(jobs, dict(parse_resize(r) for r in args.resize))
            history += f" ({changed:,} jobs resized: {'; '.join(args.resize)})"
        if args.node_split:
            from optimizer.simulate.node_split import parse_node_split, split_gangs

            jobs, changed = split_gangs(jobs, dict(parse_node_split(r) for r in args.node_split))
            history += f" ({changed:,} MNP jobs split again: {'; '.join(args.node_split)})"
        catalog, sources = _catalog(args, ctx)
    configs = []
    for path in args.replay_configs:
        config = parse_config(_read_config_file(path), catalog, source=path)
        refuse_all_disabled(config, path)
        if args.seed is not None:
            from dataclasses import replace

            config = replace(config, options=replace(config.options, seed=args.seed))
        configs.append(config)
    results = [replay(jobs, config) for config in configs]
    names = [Path(p).name for p in args.replay_configs]
    if len(set(names)) != len(names):
        names = list(args.replay_configs)
    print(f"replay of {history}: {len(jobs):,} jobs, prices {catalog.region} ({len(catalog.types)} types)")
    if args.dataset:
        from optimizer.simulate.gang_runtime import never_started_run_times

        never = never_started_run_times(jobs)
        if never["mnp_jobs"]:
            print(never["text"])  # what the gangs that never ran are replayed for, as recommend says
    _print_table(results_table(names, [r.summary for r in results]))
    print(f"prices: {sources}")
    if args.out:
        runs = [
            {"config": path, "history": history, **r.summary}
            for path, r in zip(args.replay_configs, results, strict=True)
        ]
        document: dict[str, Any] = runs[0] if len(runs) == 1 else {"runs": runs}
        write_atomic(args.out, lambda h: json.dump(document, h, indent=2, default=str))
    if args.jobs_out:
        frames = []
        for name, result in zip(names, results, strict=True):
            rows = attempt_rows(result)
            if len(results) > 1:
                rows.insert(0, "config", name)
            frames.append(rows)
        table = pd.concat(frames, ignore_index=True)
        write_atomic(args.jobs_out, lambda h: table.to_csv(h, index=False))
    if args.save_dataset:
        from optimizer.simulate.datasets import DEFAULT_START, save_replay

        count = save_replay(
            ctx.engine,
            results[0],
            args.save_dataset,
            anchor=start or DEFAULT_START,
            source=args.replay_configs[0],
            imported_at=utc_now(),
            mapping={"replay_of": history, "config": args.replay_configs[0], "seed": configs[0].options.seed},
            replace=args.replace,
        )
        print(f"stored replay as dataset {args.save_dataset}: {count:,} jobs")
    return 0
