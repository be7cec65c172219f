"""Which offerings to keep under `max_instance_types`: the candidate subsets the solver tries.

The cap's LP relaxation (the type cap dropped, every other row kept) says which offerings carry the
work; a subset of at most `cap` of them, solved without the cap, is a plan that meets it. A subset
must keep every shape with demand hostable and, when the LP runs work on spot under
diversification (min_spot_instance_types = K), hold at least K spot offerings, or no spot at all
can run. Candidates differ in how the free places are filled: by LP spend, or with smaller
instances first, which round better (a few big instances per bucket leave a large fractional part).
A heuristic: the subsets give plans, never bounds.
"""

from __future__ import annotations

import numpy as np

from optimizer.solver.columns import Prepared


def lp_spend(prep: Prepared, offering: np.ndarray, cost: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(O,) what the LP solution spends on each offering."""
    return np.bincount(offering, weights=cost * values, minlength=len(prep.offerings))


def required_offerings(prep: Prepared, ranked: list[int]) -> list[int] | None:
    """The offerings a subset needs: per shape with demand its most used host, and the K most used
    spot offerings when diversification is on and the LP uses spot. None when a shape has no host."""
    chosen: list[int] = []
    for s in np.flatnonzero(prep.demand.any(axis=1)):
        if chosen and prep.compat[chosen, s].any():
            continue
        hosts = [o for o in ranked if prep.compat[o, s]]
        if not hosts:
            return None
        chosen.append(hosts[0])
    k = prep.problem.policy.diversification
    spot_used = [o for o in ranked if prep.spot[o]]
    if k and spot_used:
        have = sum(1 for o in chosen if prep.spot[o])
        for o in spot_used:
            if have >= k:
                break
            if o not in chosen:
                chosen.append(o)
                have += 1
    return chosen


def candidate_subsets(prep: Prepared, spend: np.ndarray, cap: int) -> list[list[int]]:
    """Distinct subsets of at most `cap` prepared offerings, the most promising first."""
    ranked = [int(o) for o in np.argsort(-spend, kind="stable") if spend[o] > 1e-9]
    base = required_offerings(prep, ranked)
    if base is None or len(base) > cap:
        return []
    out: list[list[int]] = []
    by_spend = base + [o for o in ranked if o not in base][: cap - len(base)]
    out.append(by_spend)
    # Same spend order, but the free places go to the smaller of each pair of similar offerings:
    # the instances that fill a bucket's last, partly used bin cheaply.
    small_first = (
        base
        + sorted((o for o in ranked[: 2 * cap] if o not in base), key=lambda o: (prep.caps[o, 0], -spend[o]))[
            : cap - len(base)
        ]
    )
    if sorted(small_first) != sorted(by_spend):
        out.append(small_first)
    return out
