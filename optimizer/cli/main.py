"""Entry point of `batchopt`: builds the parser from the command modules and runs one command."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence

import optimizer
import optimizer.cli as cli_package
from optimizer.cli.context import CliContext
from optimizer.errors import UserError
from optimizer.runtime.logging_setup import configure_logging, redact


def _command_modules() -> list[str]:
    return sorted(
        f"{cli_package.__name__}.{info.name}"
        for info in pkgutil.iter_modules(cli_package.__path__)
        if info.name.startswith("cmd_")
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batchopt",
        description="Cost and utilization optimizer and advisor for AWS Batch.",
    )
    parser.add_argument("--version", action="version", version=f"batchopt {optimizer.__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="TOML configuration file (default: $BATCHOPT_CONFIG, else environment only)",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="structured logs on stderr (-vv: debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _command_modules():
        importlib.import_module(name).register(sub)
    _describe_commands(sub)
    return parser


def _describe_commands(sub: argparse._SubParsersAction) -> None:
    """`batchopt CMD --help` opens with what the command does: its one-line help from the command
    list where it has no description of its own (15 commands showed their options only), nested
    commands (`setup events`, `db upgrade`) included."""
    helps = {action.dest: action.help for action in sub._choices_actions}
    for name, command in sub.choices.items():
        if command.description is None and helps.get(name):
            command.description = helps[name]
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                _describe_commands(action)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not raise again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    ctx = CliContext(config_file=args.config)
    try:
        return int(handler(args, ctx) or 0)
    except UserError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"batchopt: error: {redact(line)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        logging.getLogger(__name__).warning("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`batchopt recommend | head`): stop quietly, like other CLI tools.
        _silence_stdout()
        return 0
    except Exception as exc:  # (after BrokenPipeError, an Exception too)
        message = store_unavailable(exc)
        if message is None:
            raise
        print(f"batchopt: error: {message}", file=sys.stderr)
        return 1
    finally:
        ctx.close()


def store_unavailable(exc: BaseException) -> str | None:
    """One line for a store the command could not use (locked by another writer, unreachable), which
    was a 50-line SQLAlchemy traceback; None for any other failure, which keeps its traceback. The
    driver's own first line is shown: it names no password (the URL is not in it)."""
    if not type(exc).__module__.startswith("sqlalchemy"):
        return None
    from sqlalchemy.exc import OperationalError

    if not isinstance(exc, OperationalError):
        return None
    detail = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
    return f"the store could not be used: {detail} (another batchopt command may be writing to it; retry)"


if __name__ == "__main__":
    raise SystemExit(main())
