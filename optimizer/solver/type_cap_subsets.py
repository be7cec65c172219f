"""Which offerings to keep under `max_instance_types`: the candidate subsets the solver tries.

The cap's LP relaxation (the type cap dropped, every other row kept) says which offerings carry the
work; a subset of at most `cap` of them, solved without the cap, is a plan that meets it. A subset
must keep every shape with demand hostable and, when the LP runs work on spot under
diversification (min_spot_instance_types = K), hold at least K spot offerings, or no spot at all
can run. Candidates differ in how the free places are filled: by LP spend, or by the spend of
the LP rounded to a plan (floor plus a cheapest-fit cover of the rest), which holds the smaller
instances that fill each bucket's last bins (a few big instances per bucket leave a large
fractional part, which the LP's favourites alone round badly).
With spot rows a third candidate comes from the capped LP (the selection LP of
`selection_bound.py`, which keeps the cap with y_o in [0, 1], sum y <= k): its y says which k
offerings the cap's relaxation picks, where LP spend says only which ones the uncapped LP likes
(measured on the bundled weeks' README policies: the top k by y has a subset LP within 0.1-1.5 %
of the capped LP on KTH where the LP-spend subsets are 1.4-1.8 % above it).
A heuristic: the subsets give plans, never bounds.
"""

from __future__ import annotations

import numpy as np

from optimizer.solver.columns import Prepared


def lp_spend(prep: Prepared, offering: np.ndarray, cost: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(O,) what the LP solution spends on each offering."""
    return np.bincount(offering, weights=cost * values, minlength=len(prep.offerings))


def required_offerings(prep: Prepared, ranked: list[int]) -> list[int] | None:
    """The offerings a subset needs: per shape with demand its most used host, the K most used
    spot offerings when diversification is on and the LP uses spot, and under a spot share cap
    the most used on-demand offerings that can host the share of the work kept off spot
    (`_keep_share_off_spot`): a subset of spot offerings alone can never keep a share of the work
    off spot, and where the cap barely binds (a share near 1) the LP's small on-demand spend
    ranks those offerings below the cap's last place. None when a shape has no host."""
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
    if prep.problem.policy.caps_spot_share:
        _keep_share_off_spot(prep, ranked, chosen)
    return chosen


def _keep_share_off_spot(prep: Prepared, ranked: list[int], chosen: list[int]) -> None:
    """Under a spot share cap, add to `chosen` the most used on-demand offerings (in `ranked`
    order) that host more work until its on-demand members can host the work the cap keeps off
    spot: (1 - share) of all job vCPU-hours, counting a shape's whole work once an on-demand
    member hosts it. A subset without that can run no plan at all: on a held-out Alibaba week
    (day 130) GPU jobs are 81 % of the vCPU-hours, the LP-spend subsets of 12 offerings held only
    CPU on-demand types beside spot GPU pools, every subset's LP was infeasible under share 0.8,
    and the solve answered TIMEOUT with no plan."""
    share = float(prep.problem.policy.max_spot_share or 0.0)
    work = prep.sizes[:, 0] * (prep.demand @ prep.weight)  # (S,) job vCPU-hours per shape (x hours)
    needed = (1.0 - share) * float(work.sum())

    def hosted(members: list[int]) -> np.ndarray:
        on_demand = [o for o in members if not prep.spot[o]]
        return prep.compat[on_demand].any(axis=0) if on_demand else np.zeros(len(work), dtype=bool)

    covered = hosted(chosen)
    for o in ranked:
        if float(work[covered].sum()) >= needed * (1.0 - 1e-9) and covered.any():
            return
        if prep.spot[o] or o in chosen or not (prep.compat[o] & ~covered & (work > 0)).any():
            continue
        chosen.append(o)
        covered = hosted(chosen)


def candidate_subsets(prep: Prepared, spends: list[np.ndarray], cap: int) -> list[list[int]]:
    """Distinct subsets of at most `cap` prepared offerings, one per spend vector (O,) in the
    order given: the required offerings, then the rest by that spend."""
    out: list[list[int]] = []
    for spend in spends:
        ranked = [int(o) for o in np.argsort(-spend, kind="stable") if spend[o] > 1e-9]
        base = required_offerings(prep, ranked)
        if base is None or len(base) > cap:
            continue
        subset = base + [o for o in ranked if o not in base][: cap - len(base)]
        if all(sorted(subset) != sorted(seen) for seen in out):
            out.append(subset)
    return out


def selection_subset(prep: Prepared, y: np.ndarray, spend: np.ndarray, cap: int) -> list[int] | None:
    """The `cap` offerings the capped LP selects most (`y`, (O,)), after what every subset needs
    (`required_offerings`: a host per shape with demand, K spot offerings under diversification).
    Ties in y, and the offerings it leaves at 0 (needed when its support has no host for a shape
    or fewer than K spot offerings), go by LP `spend`. None when the required ones exceed `cap`."""
    support = (y > 1e-6) | (spend > 1e-9)
    order = np.lexsort((-spend, -np.where(y > 1e-6, y, 0.0)))
    ranked = [int(o) for o in order if support[o]]
    base = required_offerings(prep, ranked)
    if base is None or len(base) > cap:
        return None
    return base + [o for o in ranked if o not in base][: cap - len(base)]
