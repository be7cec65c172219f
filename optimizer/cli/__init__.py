"""Command-line interface: `batchopt <command>`.

Each command lives in its own module `optimizer/cli/cmd_<name>.py` exposing
`register(subparsers) -> None`, which adds its parser and sets `handler=<callable(args, ctx) -> int>`.
Commands are discovered at start-up, so adding one never edits a shared file. Every command module
is imported to build the parser, so at module level it imports only light code (stdlib, `context`,
`errors`, constant modules) and its handler imports the rest: `batchopt --help` stays instant
(tests/unit/test_cli_import_light.py).
"""
