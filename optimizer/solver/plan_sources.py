"""How each search that finds plans reads in a plan's reason.

The reason sits under the gap on the Fleet mix page, where a FinOps reader reads it; "best plan
from the type-cap restriction to the swap search's subset heuristic" read as solver internals. The
plan's `stats["heuristic"]` keeps the solver's own names for engineers and logs.
"""

from __future__ import annotations

#: Plain words for the searches whose names say nothing to a reader.
PLAIN_SOURCES = {
    "type-cap subset cheapest-fit": "packed cheapest-first on a few instance types, within the type cap",
    "cheapest-fit FFD": "packed cheapest-first",
    "legacy optimal best-fit": "what Batch's 'optimal' instance setting would launch",
    "Lagrangian per-class rounding": "rounded from the lower bound's own fleet",
    "cover master": "chosen among whole fleets per demand pattern that meet the spot limits",
    "all-on-demand": "all on demand, as no cheaper plan was found in the time",
}


def plain_source(source: str) -> str:
    """`PLAIN_SOURCES`' words for the search named `source` (a plan's `stats["heuristic"]`)."""
    if source.startswith("type-cap restriction"):
        return "solved again on a few instance types, within the type cap"
    if source.startswith("single type "):
        return f"one instance type for every job ({source.removeprefix('single type ')})"
    return PLAIN_SOURCES.get(source, f"found by {source}")
