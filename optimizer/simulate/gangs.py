"""Multi-node parallel (MNP) jobs in the replay: a gang of nodes placed, started and ended together.

Rows of the jobs table that share an `mnp_parent` are the nodes of one MNP job
(`optimizer.store.multinode_rows` says how they get there); node 0 (the lowest `node_index`) is the
main node, and it carries the gang through the queue. What Batch does, and so what the replay does:

- On-demand EC2 only: "Multi-node parallel jobs aren't supported on compute environments that use
  Spot Instances" (AWS Batch user guide, "Compute environment considerations for MNP",
  mnp-ce.html), and Fargate does not run them either. A gang goes only to the ON_DEMAND EC2
  compute environments of its queue's order (`gang_may_use`), skipping SPOT ones as Batch does,
  while the queue's single jobs keep using every CE.
- A queue that reaches no on-demand EC2 CE but has a SPOT one never starts its gangs: the gang
  stays RUNNABLE at the head of its queue and holds the FIFO jobs behind it (`head_blocking.py`),
  as the guide says of the analogous Fargate Spot case ("A job queue will be blocked ... if a job
  is submitted to a job queue that only uses Fargate Spot compute environments"). Its reason is
  `SPOT_ONLY_REASON`, the product's own words: Batch documents no status-reason code for it (the
  "Jobs stuck in a RUNNABLE status" pages list CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY and the
  MISCONFIGURATION: codes only, and botocore's `JobStateTimeLimitAction.reason` is "the reason
  to log for the action being taken"), so no `jobStateTimeLimitActions` entry can name it; only
  its owner's cancel after `simulation.blockedJobCancelSeconds` ends it (0: it fails at once).
- One node per instance: Batch gives each node of an MNP job an instance of its own, so a node
  takes an empty instance (in service, or being launched) of one on-demand EC2 compute
  environment of the queue, or a new one, and holds it whole; other jobs cannot use the rest of
  it. Each node's own requests (node ranges may differ) choose its instance, among its node
  range's `instanceTypes` where the optional `node_instance_types` column names them (Batch's
  `nodeRangeProperties[].instanceTypes`; the CE's allocation strategy picks among them).
- All or nothing: the gang is placed only when every node has its instance in the same compute
  environment; until then it waits (gangs are offered freed capacity before single jobs, in queue
  priority then FIFO order, and identical gangs wait behind each other without a search). A gang
  no on-demand EC2 CE of its queue can ever hold (too many nodes for maxvCpus, a node range's
  types absent) fails at once.
- Gang formation: instances already in service wait, held and idle, until the last node's
  instance joins; then every node starts at the same second. That held time is the gang-formation
  idle the summary reports (instance-hours and their cost at each instance's own price).
- Together to the end: every node runs the main node's runtime and attempt timeout, so every
  node's attempt ends at the same second, and the job's retry strategy (the main node's) decides
  for the whole gang, which then forms again from scratch. On-demand instances are not reclaimed
  in the replay, so no node is lost on its own.
- Dependencies on the MNP job's id wait for the whole gang.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from optimizer.simulate.allocation import EPS

if TYPE_CHECKING:
    from optimizer.simulate.config import ComputeEnvironment
    from optimizer.simulate.replay_engine import ReplayEngine

SPOT_ONLY_REASON = (
    "multi-node parallel job in a queue with no on-demand EC2 compute environment"
    " (Batch does not run multi-node parallel jobs on Spot)"
)
"""Why a gang whose queue reaches only SPOT EC2 compute environments stays RUNNABLE at its head.
The product's words, not a Batch code: Batch documents no statusReason or `jobStateTimeLimitActions`
reason for this case (see the module docstring), so no action matches it."""


def gang_may_use(ce: ComputeEnvironment) -> bool:
    """Whether Batch places multi-node parallel jobs in `ce`: EC2 on-demand only (not SPOT, not
    Fargate). The one place the replay states the rule."""
    return not ce.is_fargate and not ce.is_spot


def _gang_columns(jobs: pd.DataFrame) -> tuple[list[Any], list[int]] | None:
    if "mnp_parent" not in jobs:
        return None
    parents = jobs["mnp_parent"].tolist()
    if not any(isinstance(p, str) and p for p in parents):
        return None
    index = jobs["node_index"] if "node_index" in jobs else pd.Series([0] * len(jobs))
    return parents, index.fillna(0).astype("int64").tolist()


def _node_types(jobs: pd.DataFrame) -> dict[int, frozenset[str]]:
    """Row -> the instance types its node range allows (rows without a list allow the CE's)."""
    if "node_instance_types" not in jobs:
        return {}
    out = {}
    for j, types in enumerate(jobs["node_instance_types"].tolist()):
        if isinstance(types, list | tuple | frozenset | set) or hasattr(types, "tolist"):
            names = frozenset(str(t) for t in (types.tolist() if hasattr(types, "tolist") else types))
            if names:
                out[j] = names
    return out


class GangScheduling:
    """Mixin of `ReplayEngine`: the gang state and the hooks the engine calls (see the module doc)."""

    # ----------------------------------------------------------------- loading
    def _load_gangs(self: ReplayEngine, jobs: pd.DataFrame) -> None:
        """Group node rows into gangs; followers take the main node's runtime, outcome and strategy."""
        self.gang_of: list[int] = [-1] * self.n
        self.gang_nodes: list[list[int]] = []
        self.gang_parent: list[str] = []
        self.gang_alias: dict[str, int] = {}
        self.gang_hold: dict[int, int] = {}  # instance -> node job holding it
        self.gang_waiting: list[int] = []
        self.node_types: dict[int, frozenset[str]] = {}
        columns = _gang_columns(jobs)
        if columns is None:
            return
        parents, node_index = columns
        self.node_types = _node_types(jobs)
        members: dict[str, list[int]] = {}
        for j, parent in enumerate(parents):
            if isinstance(parent, str) and parent:
                members.setdefault(parent, []).append(j)
        for parent, nodes in members.items():
            nodes.sort(key=lambda j: (node_index[j], j))
            g = len(self.gang_nodes)
            self.gang_nodes.append(nodes)
            self.gang_parent.append(parent)
            leader = nodes[0]
            self.gang_alias[parent] = leader
            for j in nodes:
                self.gang_of[j] = g
                self.gang_alias[self.job_ids[j]] = leader
                self.runtime[j] = self.runtime[leader]
                self.fails[j] = self.fails[leader]
                self.timeout[j] = self.timeout[leader]
                self.job_strategy[j] = self.job_strategy[leader]
        count = len(self.gang_nodes)
        self.gang_inst: list[int] = [-1] * self.n
        self.gang_idle_since: list[float] = [math.nan] * self.n
        self.gang_unready: list[int] = [0] * count
        self.gang_attempts: list[list[int]] = [[] for _ in range(count)]
        # Gangs with the same queue and node shapes wait behind each other (as shapes do, engine.py).
        self.gang_signature: list[tuple[Any, ...]] = [
            (
                self.job_queue_names_source[nodes[0]],
                *((self.shape[j], tuple(sorted(self.node_types.get(j, ())))) for j in nodes),
            )
            for nodes in self.gang_nodes
        ]
        self.gang_ce_ok: dict[tuple[int, tuple[Any, ...]], bool] = {}
        # (instance, node job, seconds) of every held-idle interval, priced in the results.
        self.gang_idle: list[tuple[int, int, float]] = []
        self.gang_formations = 0

    # ----------------------------------------------------------------- hooks
    def _is_gang_follower(self: ReplayEngine, j: int) -> bool:
        g = self.gang_of[j]
        return g >= 0 and self.gang_nodes[g][0] != j

    def _gang_runnable(self: ReplayEngine, j: int, t: float) -> None:
        """The main node became runnable: block a gang its queue can only send to spot, fail one
        no on-demand EC2 CE can hold, else place it or let it wait."""
        from optimizer.simulate.replay_engine import _PENDING

        g = self.gang_of[j]
        q = self.job_queue[j]
        self.runnable_seq += 1
        self.runnable_order[j] = self.runnable_seq
        if not any(self._gang_fits_ce(c, g) for c in self.queue_ces[q]):
            ces = [self.ces[c] for c in self.queue_ces[q]]
            spot = any(ce.is_spot and not ce.is_fargate for ce in ces)
            if spot and not any(gang_may_use(ce) for ce in ces):
                for k in self.gang_nodes[g]:
                    self.state[k] = _PENDING  # RUNNABLE, at the head of its queue
                self._hold_head(j, q, t, SPOT_ONLY_REASON, SPOT_ONLY_REASON)
                return
            nodes = self.gang_nodes[g]
            skipped = " (its SPOT compute environments do not run multi-node parallel jobs)" if spot else ""
            self._fail(
                j,
                t,
                f"no EC2 compute environment of queue {self.queue_names[q]} can hold all {len(nodes)} nodes "
                f"({self.vcpus[j]:g} vCPU, {self.mem[j]:g} MiB, {self.gpus[j]} GPU each) of this "
                f"multi-node parallel job, one instance per node, within its maxvCpus{skipped}",
            )
            return
        for k in self.gang_nodes[g]:
            self.state[k] = _PENDING
        signature = self.gang_signature[g]
        if any(self.gang_signature[w] == signature for w in self.gang_waiting) or not self._place_gang(g, t):
            self.gang_waiting.append(g)

    def _gang_instance_ready(self: ReplayEngine, i: int, t: float) -> None:
        """An instance held for a forming gang joined: it now waits idle for the others."""
        j = self.gang_hold[i]
        g = self.gang_of[j]
        self.gang_idle_since[j] = t
        self.gang_unready[g] -= 1
        if self.gang_unready[g] == 0:
            self._start_gang(g, t)

    def _end_gang_attempt(self: ReplayEngine, a: int, t: float) -> None:
        """A node's attempt ended (they all end at the same second): end the gang's attempt."""
        g = self.gang_of[self.a_job[a]]
        leader_attempt = self.gang_attempts[g][0]
        self._close_gang(g, t, self.a_exit[leader_attempt], self.a_reason[leader_attempt])

    def _offer_gangs(self: ReplayEngine, t: float) -> None:
        """Capacity freed or headroom opened: place waiting gangs, queue priority then FIFO."""
        if not self.gang_waiting:
            return
        priority = {q.name: q.priority for q in self.config.queues}

        def rank(g: int) -> tuple[float, int]:
            leader = self.gang_nodes[g][0]
            return -priority.get(self.queue_names[self.job_queue[leader]], 0), self.runnable_order[leader]

        ranked = sorted(self.gang_waiting, key=rank)
        failed: set[tuple[Any, ...]] = set()
        placed: set[int] = set()
        for g in ranked:
            signature = self.gang_signature[g]
            if signature in failed:
                continue
            if self._place_gang(g, t):
                placed.add(g)
            else:
                failed.add(signature)
        if placed:
            self.gang_waiting = [g for g in self.gang_waiting if g not in placed]

    def _finish_gangs(self: ReplayEngine) -> None:
        """Every node job reports its MNP job's outcome (the main node's)."""
        for nodes in self.gang_nodes:
            leader = nodes[0]
            for j in nodes[1:]:
                self.state[j] = self.state[leader]
                self.job_end[j] = self.job_end[leader]
                self.job_reason[j] = self.job_reason[leader]
                if self.first_start[leader] == self.first_start[leader]:
                    self.first_start[j] = self.first_start[leader]

    # ----------------------------------------------------------------- placement
    def _gang_fits_ce(self: ReplayEngine, c: int, g: int) -> bool:
        """Whether CE c could ever hold the whole gang: on-demand EC2 (`gang_may_use`), every node
        has a type, and the nodes' smallest instances together stay within maxvCpus (one instance
        over where Batch allows it)."""
        key = (c, self.gang_signature[g])
        hit = self.gang_ce_ok.get(key)
        if hit is not None:
            return hit
        ce = self.ces[c]
        ok = gang_may_use(ce) and ce.max_vcpus > 0
        total, largest = 0.0, 0.0
        for j in self.gang_nodes[g] if ok else ():
            s = self.shape[j]
            if not self._feasible(c, s):
                ok = False
                break
            sizes = [
                spec.vcpus
                for spec in ce.instance_types
                if self._node_fits(spec, j) and (not ce.strict_max or spec.vcpus <= ce.max_vcpus + EPS)
            ]
            if not sizes:
                ok = False
                break
            total += min(sizes)
            largest = max(largest, min(sizes))
        if ok:
            slack = 0.0 if ce.strict_max else largest
            ok = total - slack <= ce.max_vcpus + EPS
        self.gang_ce_ok[key] = ok
        return ok

    def _fits_empty(self: ReplayEngine, spec: Any, s: int) -> bool:
        arch = self.shape_arch[s]
        return (
            spec.vcpus + EPS >= self.shape_v[s]
            and spec.allocatable_memory_mib + EPS >= self.shape_m[s]
            and spec.gpus >= self.shape_g[s]
            and (not arch or spec.arch == arch)
        )

    def _node_fits(self: ReplayEngine, spec: Any, j: int) -> bool:
        allowed = self.node_types.get(j)
        return self._fits_empty(spec, self.shape[j]) and (allowed is None or spec.instance_type in allowed)

    def _choose_node_type(self: ReplayEngine, c: int, j: int, smallest: bool = False) -> Any:
        """The type to launch for node j: the engine's choice, or among its node range's types
        under the same maxvCpus rule (`ReplayEngine._choose_type`); with `smallest`, the smallest
        type that holds the node within that rule (cheapest on a tie): the sizes `_gang_fits_ce`
        counts when it decides that the CE can hold the gang at all."""
        s = self.shape[j]
        allowed = self.node_types.get(j)
        if allowed is None and not smallest:
            return self._choose_type(c, s, 1)
        ce = self.ces[c]
        may_launch, headroom = self._launch_headroom(c, s)
        if not may_launch:
            return None
        arch = self.shape_arch[s]
        candidates = [
            spec
            for spec in ce.instance_types
            if (allowed is None or spec.instance_type in allowed) and (not arch or spec.arch == arch)
        ]
        if not smallest:
            return self._pick_type(ce, candidates, s, 1, headroom)
        fitting = [
            spec
            for spec in candidates
            if self._node_fits(spec, j) and (headroom is None or spec.vcpus <= headroom + EPS)
        ]
        return min(fitting, key=lambda spec: (spec.vcpus, spec.ondemand_price), default=None)

    def _is_empty(self: ReplayEngine, i: int) -> bool:
        spec = self.i_spec[i]
        return (
            i not in self.gang_hold
            and not self.i_running[i]
            and not self.i_bound[i]
            and self.free_v[i] + EPS >= spec.vcpus
            and self.free_m[i] + EPS >= spec.allocatable_memory_mib
        )

    def _place_gang(self: ReplayEngine, g: int, t: float) -> bool:
        """Give every node of gang g an empty instance of one CE (new ones where needed), or nothing.

        New nodes take the type the CE's allocation strategy prefers; when those would not all fit
        within maxvCpus (BEST_FIT_PROGRESSIVE prefers the lowest cost per vCPU, often a type much
        larger than a node), the gang is placed on the smallest types that hold its nodes, as
        `_gang_fits_ce` counted: a gang the CE can hold is never refused for the size of the
        types the strategy would rather launch (128 nodes of 16 vCPUs fit a 4,096-vCPU CE on
        16-vCPU types, not on the 36-vCPU types its strategy ranks first)."""
        nodes = self.gang_nodes[g]
        q = self.job_queue[nodes[0]]
        for c in self.queue_ces[q]:
            if not self._gang_fits_ce(c, g):
                continue
            empty = [i for i in (*self.ce_ready[c], *self.ce_launching[c]) if self._is_empty(i)]
            plan = self._gang_plan(c, nodes, empty, smallest=False) or self._gang_plan(
                c, nodes, empty, smallest=True
            )
            if plan is None:
                continue
            self._hold_gang(g, c, plan, t)
            return True
        return False

    def _gang_plan(
        self: ReplayEngine, c: int, nodes: list[int], empty: list[int], *, smallest: bool
    ) -> list[tuple[int, Any]] | None:
        """Per node, an empty instance of CE c (index, None) or a type to launch (-1, spec); None
        when some node gets neither."""
        used: set[int] = set()
        plan: list[tuple[int, Any]] = []
        saved = self.ce_vcpus[c]
        try:
            for j in nodes:
                found = next((i for i in empty if i not in used and self._node_fits(self.i_spec[i], j)), None)
                if found is not None:
                    used.add(found)
                    plan.append((found, None))
                    continue
                spec = self._choose_node_type(c, j, smallest)
                if spec is None:
                    return None
                self.ce_vcpus[c] += spec.vcpus  # tentative: the next node sees the headroom left
                plan.append((-1, spec))
        finally:
            self.ce_vcpus[c] = saved
        return plan

    def _hold_gang(self: ReplayEngine, g: int, c: int, plan: list[tuple[int, Any]], t: float) -> None:
        """Launch what `plan` needs and hold each node's instance whole; start the gang when all are up."""
        from optimizer.simulate.replay_engine import _BOUND

        self.gang_unready[g] = 0
        self.gang_formations += 1
        for j, (i, spec) in zip(self.gang_nodes[g], plan, strict=True):
            if i < 0:
                i = self._launch(c, spec, t)
            self.gang_hold[i] = j
            self.gang_inst[j] = i
            self.free_v[i] = 0.0  # held whole: one node per instance
            self.free_m[i] = 0.0
            self.free_g[i] = 0
            self.i_idle_token[i] = -1  # a pending scale-in check no longer applies
            self.state[j] = _BOUND
            if self.i_state[i] == 1:
                self.gang_idle_since[j] = t
            else:
                self.gang_idle_since[j] = math.nan
                self.gang_unready[g] += 1
        if self.gang_unready[g] == 0:
            self._start_gang(g, t)

    def _start_gang(self: ReplayEngine, g: int, t: float) -> None:
        attempts = []
        for j in self.gang_nodes[g]:
            i = self.gang_inst[j]
            since = self.gang_idle_since[j]
            if t > since:
                self.gang_idle.append((i, j, t - since))
            attempts.append(len(self.a_job))
            self._start(j, i, t)
        self.gang_attempts[g] = attempts

    def _empty_out(self: ReplayEngine, freed: list[int]) -> None:
        """Nodes' instances are whole again (a retried gang may take them back at once)."""
        for i in freed:
            spec = self.i_spec[i]
            self.free_v[i] = spec.vcpus
            self.free_m[i] = spec.allocatable_memory_mib
            self.free_g[i] = spec.gpus

    def _release(self: ReplayEngine, freed: list[int], t: float) -> None:
        """Emptied instances go to waiting gangs first, then to waiting jobs; one nobody takes goes
        idle (and scales in after the idle delay)."""
        self._empty_out(freed)
        self._offer_gangs(t)
        for i in freed:
            if self.i_state[i] == 1 and i not in self.gang_hold:
                self._fill_instance(i, t)
                if not self.i_running[i]:
                    self._mark_idle(i, t)

    def _close_gang(self: ReplayEngine, g: int, t: float, exit_code: int | None, reason: str | None) -> None:
        """End every node's attempt of gang g at t; the main node's strategy decides for the gang."""
        freed = []
        for a in self.gang_attempts[g]:
            if self.a_done[a]:
                continue
            self.a_done[a] = True
            self.a_end[a] = t
            self.running -= 1
            i = self.a_inst[a]
            if a in self.i_running[i]:
                self.i_running[i].remove(a)
            self.gang_hold.pop(i, None)
            freed.append(i)
        nodes = self.gang_nodes[g]
        for j in nodes[1:]:
            self.attempts_done[j] += 1
        self._empty_out(freed)
        self._after_attempt(nodes[0], t, exit_code, reason)  # a retry may take the freed instances
        self._release([i for i in freed if i not in self.gang_hold], t)


def with_gang_columns(engine: ReplayEngine, jobs: pd.DataFrame) -> pd.DataFrame:
    """The replay's jobs frame with `mnp_parent`, `node_index` and `num_nodes` when it ran MNP jobs,
    so a saved replay (`records.to_store_frames`) stores them as Batch does and replays as gangs."""
    if not engine.gang_nodes:
        return jobs
    parent: list[str | None] = [None] * engine.n
    index: list[int | None] = [None] * engine.n
    count: list[int | None] = [None] * engine.n
    for g, nodes in enumerate(engine.gang_nodes):
        for k, j in enumerate(nodes):
            parent[j], index[j], count[j] = engine.gang_parent[g], k, len(nodes)
    return jobs.assign(
        mnp_parent=pd.Series(parent, index=jobs.index, dtype=object),
        node_index=pd.array(index, dtype="Int64"),
        num_nodes=pd.array(count, dtype="Int64"),
    )


def gang_summary(engine: ReplayEngine, instances: pd.DataFrame) -> dict[str, Any]:
    """MNP figures for the replay summary (empty without MNP jobs): jobs, node jobs, and the
    gang-formation idle, priced at each held instance's own hourly price (`price_per_hour`)."""
    if not engine.gang_nodes:
        return {}
    price = instances["price_per_hour"].to_numpy(dtype=float)
    idle_s = sum(seconds for _, _, seconds in engine.gang_idle)
    idle_usd = sum(price[i] * seconds / 3600.0 for i, _, seconds in engine.gang_idle)
    by_queue: dict[str, float] = {}
    for i, j, seconds in engine.gang_idle:
        queue = str(engine.queue_names[engine.job_queue[j]])
        by_queue[queue] = by_queue.get(queue, 0.0) + price[i] * seconds / 3600.0
    from optimizer.simulate.replay_engine import _FAILED

    failed = [nodes for nodes in engine.gang_nodes if engine.state[nodes[0]] == _FAILED]
    return {
        "mnp_jobs": len(engine.gang_nodes),
        "mnp_node_jobs": sum(len(nodes) for nodes in engine.gang_nodes),
        # `failed` counts rows (node jobs); these say how many MNP jobs they are.
        "mnp_jobs_failed": len(failed),
        "mnp_node_jobs_failed": sum(len(nodes) for nodes in failed),
        "gang_formations": engine.gang_formations,
        "gang_formation_idle_instance_hours": round(idle_s / 3600.0, 6),
        "gang_formation_idle_cost_usd": round(idle_usd, 6),
        # The same cost by the gangs' job queue (the MNP findings are per queue).
        "gang_formation_idle_cost_usd_by_queue": {q: round(v, 6) for q, v in sorted(by_queue.items())},
    }
