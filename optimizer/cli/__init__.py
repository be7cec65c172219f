"""Command-line interface: `batchopt <command>`.

Each command lives in its own module `optimizer/cli/cmd_<name>.py` exposing
`register(subparsers) -> None`, which adds its parser and sets `handler=<callable(args, ctx) -> int>`.
Commands are discovered at start-up, so adding one never edits a shared file.
"""
