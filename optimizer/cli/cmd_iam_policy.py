"""`batchopt iam-policy --role ROLE`: the least-privilege policy of a role, derived from the code.

Every collector and the apply executor declare the IAM actions they call; this prints their union
for one role, so the policy cannot drift from what the code does.
"""

from __future__ import annotations

import argparse
import importlib

from optimizer.aws.permissions import ROLES, policy_document
from optimizer.cli.context import CliContext

DECLARING_PACKAGES = ("optimizer.collectors", "optimizer.apply", "optimizer.aws")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("iam-policy", help="print the least-privilege IAM policy for a role")
    parser.add_argument(
        "--role",
        choices=ROLES,
        required=True,
        help="collector (read-only), apply, report (S3 sink), billing (the bill in Athena) or setup "
        "(`batchopt setup events`)",
    )
    parser.set_defaults(handler=run)


def load_declarations() -> None:
    """Import the packages whose modules declare permissions."""
    import pkgutil

    for name in DECLARING_PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            importlib.import_module(info.name)


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    load_declarations()
    # Scoped grants name settings (the report bucket's KMS key); an unset one leaves its grant out.
    settings = {"report.s3_kms_key_arn": ctx.settings.report.s3_kms_key_arn}
    print(policy_document(args.role, settings))
    return 0
