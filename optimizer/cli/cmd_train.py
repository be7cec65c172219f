"""`batchopt train`: fit the demand forecast, usage-quantile and spot-interruption models from the
store and keep them in the model registry (`models/` by default), each with its JSON model card."""

from __future__ import annotations

import argparse

from optimizer.cli.context import CliContext
from optimizer.cli.output_files import prepare_folder
from optimizer.errors import InputError
from optimizer.ml.kinds import MODEL_KINDS
from optimizer.runtime.clock import utc_now
from optimizer.store.names import COLLECTED_DATASET


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train the forecast, right-sizing and interruption models from the store"
    )
    p.add_argument(
        "--dataset", default=COLLECTED_DATASET, help="history to learn from (default: %(default)s)"
    )
    p.add_argument(
        "--models-dir", help="model registry folder (default: $BATCHOPT_MODELS_DIR, else ./models)"
    )
    p.add_argument(
        "--only",
        metavar="KINDS",
        help=f"comma-separated subset of {','.join(MODEL_KINDS)} (default: all)",
    )
    p.add_argument("--history-days", type=int, default=56, help="days of history to learn from (default: 56)")
    p.set_defaults(handler=run)


def parse_kinds(value: str | None) -> tuple[str, ...]:
    if not value:
        return MODEL_KINDS
    kinds = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [k for k in kinds if k not in MODEL_KINDS]
    if unknown or not kinds:
        raise InputError(f"--only {value!r}: each must be one of {', '.join(MODEL_KINDS)}")
    return kinds


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    from optimizer.ml.registry import ModelRegistry
    from optimizer.ml.training import train_all

    kinds = parse_kinds(args.only)
    if args.history_days < 7:
        raise InputError(f"--history-days {args.history_days}: must be at least 7")
    from optimizer.simulate.datasets import require_dataset

    require_dataset(ctx.engine, args.dataset)
    now = utc_now()
    registry = ModelRegistry(args.models_dir)
    # (before hours of training, not after)
    prepare_folder(registry.root, f"--models-dir {registry.root}", "the folder")
    report = train_all(
        ctx.engine, registry, now=now, dataset=args.dataset, kinds=kinds, history_days=args.history_days
    )
    for name, metrics in report.trained.items():
        print(f"trained {name}: {summarize(metrics)}")
    for name, reason in report.skipped.items():
        print(f"skipped {name}: {reason}")
    return 0


def summarize(metrics: dict) -> str:
    """One line per model for the terminal; the full metrics are in the model card."""
    if "backtest_vcpus" in metrics:
        parts = [
            f"{queue} MAE {m['mae_p50']:.2f} vs naive {m['mae_seasonal_naive']:.2f}"
            for queue, m in metrics["backtest_vcpus"].items()
        ]
        return f"{metrics['series']} series; " + ("; ".join(parts) or "no backtest (history too short)")
    if "per_job" in metrics:
        job, d = metrics["per_job"], metrics["per_definition"]
        return (
            f"held-back {int(job['jobs'])} attempts: per-job exceeded {job['exceeded_share']:.2%}, "
            f"cut {job['memory_cut']:.1%}; per-definition exceeded {d['exceeded_share']:.2%}, "
            f"cut {d['memory_cut']:.1%}"
        )
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())
