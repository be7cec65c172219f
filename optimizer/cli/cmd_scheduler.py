"""`batchopt scheduler`: run the periodic jobs (collection, and those other areas register).

Runs in the foreground until interrupted; `--list` prints the jobs and their next run instead.
"""

from __future__ import annotations

import argparse
import signal

from optimizer.cli.context import CliContext


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("scheduler", help="run the scheduled jobs (collection, reports, training...)")
    parser.add_argument("--list", action="store_true", help="print the registered jobs and exit")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    from optimizer.recommend.strategy_settings import strategy_settings
    from optimizer.scheduler.registry import build_scheduler

    strategy_settings(ctx.settings.recommend)  # a bad [recommend.*] section stops here, not at the daily run
    engine = ctx.engine  # refuses an unmigrated store before anything is scheduled
    if args.list:
        scheduler = build_scheduler(ctx.settings, config_file=ctx.config_file, engine=engine)
        scheduler.start(paused=True)
        try:
            for job in scheduler.get_jobs():
                print(f"{job.id}: {job.name}; trigger {job.trigger}; next run {job.next_run_time}")
        finally:
            scheduler.shutdown(wait=False)
        return 0
    scheduler = build_scheduler(ctx.settings, config_file=ctx.config_file, blocking=True, engine=engine)

    # `docker stop` sends SIGTERM: stop taking new runs and return, as Ctrl-C does.
    def stop(_signum: int, _frame: object) -> None:
        if not scheduler.running:
            raise SystemExit(0)  # before start() got going: nothing to wind down
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    print(
        f"scheduler started with {len(scheduler.get_jobs())} job(s); Ctrl-C or SIGTERM stops it", flush=True
    )
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        if scheduler.running:
            scheduler.shutdown(wait=False)
    return 0
