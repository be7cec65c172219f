"""Two deliveries of one billing month given together: refused, since their line items would add up.

Why. AWS restates a month for a while after it ends and delivers the whole month again: a legacy CUR
writes a new assembly folder beside the old one, a CUR 2.0 export in "create new" mode a new
execution folder, and a legacy file may hold a restated month beside the current one. A glob over
the export's folder (`import-bill 'cur/**/*.parquet'`) then picks up both versions, and the month's
cost reads about twice what Cost Explorer shows, with nothing to say so.

How it is told from a month split into parts (which AWS also delivers, and which must add up).
Each line item is keyed by what makes it one charge: its usage hour (start and end), account, line
item type, service, usage type, operation, resource and availability zone. Within one delivery a
key names one charge, so the parts of a month share almost no keys (a resource's pricing tiers of
one hour may fall into two parts); two deliveries share nearly all of them. The line item id is
no help: AWS documents it as unique only within a partition and not stable between deliveries.
A file is refused when at least `SHARED_SHARE` of its line items (at least one) have a key another
file of the same month also has; the error names both files and the counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb

from optimizer.errors import InputError

#: The share of a file's line items whose key another file of the month also holds from which the
#: two are taken for two deliveries of the month rather than parts of one.
SHARED_SHARE = 0.5

#: What makes a canonical line item one charge (columns of `sources`' canonical SELECT).
KEY = (
    "usage_start",
    "usage_end",
    "account_id",
    "line_item_type",
    "service",
    "usage_type",
    "operation",
    "resource_id",
    "availability_zone",
)


def refuse_overlapping_deliveries(
    con: duckdb.DuckDBPyConnection, label: str, period: datetime, parts: Sequence[tuple[str, str]]
) -> None:
    """InputError when two of the month's files (`parts`: (path, canonical SELECT)) hold the
    same line items; `label` names the month in the message. Nothing to check with one file."""
    if len(parts) < 2:
        return
    keyed = "\nUNION ALL\n".join(
        f"SELECT {i} AS part, hash({', '.join(KEY)}) AS k FROM ({sql}) WHERE billing_period = $period"
        for i, (_name, sql) in enumerate(parts)
    )
    rows = con.execute(
        f"""
        WITH keyed AS ({keyed}),
        located AS (SELECT DISTINCT part, k FROM keyed),
        pairs AS (
          SELECT a.part AS part, b.part AS other, count(*) AS shared
          FROM keyed a JOIN located b ON a.k = b.k AND a.part <> b.part
          GROUP BY a.part, b.part
        ),
        sizes AS (SELECT part, count(*) AS n FROM keyed GROUP BY part)
        SELECT pairs.part, pairs.other, pairs.shared, sizes.n
        FROM pairs JOIN sizes USING (part)
        ORDER BY pairs.shared / sizes.n DESC, pairs.part, pairs.other
        LIMIT 1
        """,
        {"period": period},
    ).fetchall()
    if not rows:
        return
    part, other, shared, n = rows[0]
    if shared >= SHARED_SHARE * n:
        raise InputError(
            f"{label}: {shared} of the {n} line items of {parts[part][0]} are also in {parts[other][0]} "
            "(same hour, account, usage type, operation and resource): two deliveries of the month "
            "would count it twice; give only the newest delivery of each month"
        )
