"""AWS Batch's multi-node parallel node ranges (`nodeRangeProperties[].targetNodes`): one reading
of the forms and of which range a node runs, shared by the collectors, trace import and the
replay's node split (`simulate/node_split.py`), so a node never gets one range's container when
collected and another's when resized.

botocore's model (batch 2016-08-10, `NodeRangeProperty.targetNodes`): "The range of nodes, using
node index values. A range of 0:3 indicates nodes with index values of 0 through 3. If the
starting range value is omitted (:n), then 0 is used to start the range. If the ending range value
is omitted (n:), then the highest possible node index is used to end the range. ... You can nest
node ranges (for example, 0:10 and 4:5). In this case, the 4:5 range properties override the 0:10
properties."
"""

from __future__ import annotations

from collections.abc import Sequence

from optimizer.errors import InputError


def target_span(target: str, count: int) -> tuple[int, int]:
    """`target` as (first, last) node index in a job of `count` nodes: "0:3", "n:" (to the highest
    index, count - 1), ":n" (from 0) and a bare "n". An InputError names a value of another form."""
    low, sep, high = target.strip().partition(":")
    if not sep:
        high = low
    if (low and not low.isdigit()) or (high and not high.isdigit()) or (not sep and not low):
        raise InputError(f"node range {target!r} is not n, n:m, n: or :m")
    return (int(low) if low else 0), (int(high) if high else count - 1)


def owning_range(spans: Sequence[tuple[int, int] | None], node: int) -> int | None:
    """Index of the range whose properties node `node` runs: the narrowest span holding it (nested
    ranges override the range they sit in), the first listed on a tie; None when none holds it.
    A None span (an unreadable range) holds no node."""
    holding = [(s[1] - s[0], i) for i, s in enumerate(spans) if s is not None and s[0] <= node <= s[1]]
    return min(holding)[1] if holding else None
