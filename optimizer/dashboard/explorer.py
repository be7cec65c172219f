"""Helpers for the cost explorer's filters that are not SQL: account and region live in the CE ARN.

The daily cost aggregate is keyed by compute environment ARN (`arn:aws:batch:<region>:<account>:
compute-environment/<name>`), so filtering by account or region is filtering by the CEs they own.
"""

from __future__ import annotations

from collections.abc import Sequence


def parse_ce_arn(arn: str) -> tuple[str, str]:
    """(region, account) of a Batch ARN; ("", "") for anything that is not one (e.g. "(none)")."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return "", ""
    return parts[3], parts[4]


def ce_arns_matching(
    arns: Sequence[str], picked: Sequence[str], accounts: Sequence[str], regions: Sequence[str]
) -> list[str] | None:
    """The CE ARNs to filter on, or None for no CE filter at all (nothing picked anywhere)."""
    if not picked and not accounts and not regions:
        return None
    pool = list(picked) if picked else list(arns)
    out = []
    for arn in pool:
        region, account = parse_ce_arn(arn)
        if accounts and account not in accounts:
            continue
        if regions and region not in regions:
            continue
        out.append(arn)
    return out
