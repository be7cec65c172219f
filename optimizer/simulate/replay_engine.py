"""The discrete-event replay of AWS Batch: jobs, queues, compute environments, instances, reclaims.

Dispatch rule (what Batch does, as far as it is observable):
1. A job becomes runnable at its submit time, or when its last dependency SUCCEEDED (a failed
   dependency fails it). Runnable jobs are ordered by queue priority (higher first), then by the
   time they became runnable (FIFO).
2. A runnable job goes to the compute environments of its queue in their order. In each CE it
   takes the first running instance with room for its vCPUs, memory and GPUs at once (oldest
   first, which packs work onto old instances and lets new ones go idle and scale in), else room
   on an instance being launched (it starts when that instance joins), else the CE launches an
   instance for it if below maxvCpus (the type chosen by the allocation strategy, see
   `allocation.py`). Only when no CE can take it does it wait.
3. A job that cannot be placed does not block the jobs behind it: Batch is not head-of-line
   blocking, so any runnable job that fits free capacity is placed. When capacity frees (a job
   ends, an instance joins, an instance leaves and opens headroom) the waiting jobs of the
   queues served by that CE are offered it in priority-then-FIFO order.
Because waiting jobs are grouped by shape (vCPUs, memory, GPUs, architecture), a job whose shape
already has waiting jobs in its queue waits behind them without a search: they did not fit, so
neither does it. This keeps a pass O(shapes), not O(backlog), which is what makes a million
jobs replay in seconds.

Instances: launched instances join after `launch_delay_s`; one idle for `scale_in_idle_s` is
terminated unless that would take the CE below minvCpus; BEST_FIT on on-demand never exceeds
maxvCpus, every other strategy may exceed it by one instance (Batch's documented behaviour).
Billing is per second with a 60 s minimum, from launch request to termination. Spot instances are
reclaimed after an exponential lifetime drawn from a seeded generator at their pool's monthly
interruption rate; the attempts on them end with "Host EC2 (instance i-...) terminated." and the
job's retry strategy decides. A job the trace records as FAILED runs for its recorded runtime and
exits 1 (its retry strategy then decides, and retries fail the same way), so the replay keeps the
history's failures and their cost. A job no CE of its queue can ever run (too large, GPUs on
Fargate) fails at once with that reason, or, when its queue has a matching job-state time limit
action, stays RUNNABLE until the action cancels it; an attempt that reaches the job's
attemptDurationSeconds ends there and fails the job without a retry (`timeouts.py`).
With `simulation.capacityShortages`, a pool (type x capacity type) in a drawn shortage cannot
launch: the CE picks among its other types, else the job goes to the queue's next CE or waits,
and the CE retries its waiting jobs when the earliest shortage ends (`shortages.py`).
The replay clock starts at the first submit time; instances kept for minvCpus are billed to the
end of the last job. Multi-node parallel jobs (rows sharing `mnp_parent`) are gangs: one empty
instance per node of an on-demand EC2 CE (Batch skips SPOT CEs for them; a queue with only spot
ones is blocked by the gang), all placed before any starts, ended together (`gangs.py`).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter, deque
from collections.abc import Callable

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.simulate.allocation import EPS, choose_instance_type, jobs_per_instance
from optimizer.simulate.catalog import InstanceSpec
from optimizer.simulate.config import ComputeEnvironment, ReplayConfig
from optimizer.simulate.fair_share import FairShareQueue, ShareLine, job_priorities
from optimizer.simulate.fargate import fargate_size
from optimizer.simulate.gangs import GangScheduling
from optimizer.simulate.head_blocking import BY_ACTION, BY_OWNER, QueueHeads
from optimizer.simulate.retry import (
    CONTAINER_EXIT_REASON,
    FARGATE_SPOT_REASON,
    RetryStrategy,
    reclaim_status_reason,
)
from optimizer.simulate.shortages import ShortageCalendar
from optimizer.simulate.timeouts import (
    TIMEOUT_REASON,
    blocked_reason,
    cancelled_reason,
    matching_action,
)

# Event kinds, in the order they are handled at one instant: capacity is freed before it is
# offered, and idle checks come last so that work arriving at the same second keeps an instance.
_END, _RECLAIM, _READY, _ARRIVE, _IDLE = 0, 1, 2, 3, 4
_STATE_LIMIT = 5  # a job-state time limit action cancels a blocked RUNNABLE job (`timeouts.py`)
_SHORTAGE_END = 6  # a capacity shortage that stopped a CE's launches ends (`shortages.py`)
_SHARE_RETRY = 7  # a fair-share queue's usage dropped after its compute reservation held a job back

# Job states.
_NOT_ARRIVED, _WAITING_DEPS, _PENDING, _BOUND, _RUNNING, _SUCCEEDED, _FAILED = range(7)
MINIMUM_BILLED_SECONDS = 60.0


REQUIRED_COLUMNS = ("job_id", "submit_s", "runtime_s", "vcpus", "memory_mib", "gpus", "queue")


def _validate_jobs(jobs: pd.DataFrame) -> None:
    """Reject a jobs table the replay cannot honour, naming the first bad job (cheap, vectorized)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in jobs.columns]
    if missing:
        raise InputError(f"jobs table: missing column(s) {', '.join(missing)}")
    checks = (
        ("submit_s", lambda v: np.isfinite(v) & (v >= 0), "a finite number >= 0"),
        ("runtime_s", lambda v: np.isfinite(v) & (v >= 0), "a finite number >= 0"),
        ("vcpus", lambda v: np.isfinite(v) & (v > 0), "a positive number"),
        ("memory_mib", lambda v: np.isfinite(v) & (v > 0), "a positive number"),
        ("gpus", lambda v: np.isfinite(v) & (v >= 0), "a whole number >= 0"),
    )
    for column, rule, wanted in checks:
        values = pd.to_numeric(jobs[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = ~rule(values)
        if bad.any():
            k = int(np.argmax(bad))
            job_id, value = jobs["job_id"].iat[k], jobs[column].iat[k]
            raise InputError(f"job {job_id}: field {column!r}: must be {wanted}, got {value!r}")
    if "timeout_s" in jobs:  # attemptDurationSeconds: Batch's minimum is 60 s; empty means none
        values = pd.to_numeric(jobs["timeout_s"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = ~(np.isnan(values) | (values >= 60))
        if bad.any():
            k = int(np.argmax(bad))
            raise InputError(
                f"job {jobs['job_id'].iat[k]}: field 'timeout_s': must be at least 60 seconds or empty,"
                f" got {jobs['timeout_s'].iat[k]!r}"
            )
    if jobs["job_id"].duplicated().any():
        raise InputError(f"job {jobs['job_id'][jobs['job_id'].duplicated()].iat[0]}: duplicate job_id")


class ReplayEngine(GangScheduling):
    """One replay run. Build it with the jobs and the configuration, call `run()` once.

    State lives in flat Python lists indexed by job, attempt and instance number: the event loop
    touches a few scalars per event, and lists of floats are the fastest containers for that in
    CPython (numpy scalar access is slower). Records are turned into frames at the end.
    """

    def __init__(self, jobs: pd.DataFrame, config: ReplayConfig) -> None:
        self.config = config
        self.options = config.options
        self.rng = random.Random(config.options.seed)
        self._load_jobs(jobs)
        self._load_config()
        self.shortages = ShortageCalendar(config.options.capacity_shortages, config.options.seed)
        self.shortage_retry_at = [math.inf] * len(self.ces)
        self.launches_refused = 0
        self.now = 0.0  # the event loop's clock, for what asks without a time (`_choose_type`)
        # Attempts.
        self.a_job: list[int] = []
        self.a_inst: list[int] = []
        self.a_ce: list[int] = []
        self.a_start: list[float] = []
        self.a_end: list[float] = []
        self.a_exit: list[int | None] = []
        self.a_reason: list[str | None] = []
        self.a_reclaim: list[bool] = []
        self.a_done: list[bool] = []
        self.a_vcpus: list[float] = []
        self.a_mem: list[float] = []
        self.a_cost: list[float] = []
        # Instances.
        self.i_ce: list[int] = []
        self.i_spec: list[InstanceSpec] = []
        self.i_launch: list[float] = []
        self.i_end: list[float] = []
        self.i_state: list[int] = []  # 0 launching, 1 in service, 2 terminated
        self.i_end_reason: list[str] = []
        self.free_v: list[float] = []
        self.free_m: list[float] = []
        self.free_g: list[int] = []
        self.i_running: list[list[int]] = []
        self.i_bound: list[list[int]] = []
        self.i_idle_token: list[int] = []
        self.heap: list[tuple[float, int, int, int]] = []
        self.seq = 0
        self.runnable_seq = 0

    # ----------------------------------------------------------------- inputs
    def _load_jobs(self, jobs: pd.DataFrame) -> None:
        _validate_jobs(jobs)
        n = len(jobs)
        self.n = n
        self.job_ids = jobs["job_id"].astype(str).tolist()
        self.job_queue_names_source = jobs["queue"].astype(str).tolist()
        self.job_names = jobs["job_name"].astype(str).tolist() if "job_name" in jobs else list(self.job_ids)
        self.submit = jobs["submit_s"].to_numpy(dtype=float).tolist()
        self.runtime = jobs["runtime_s"].to_numpy(dtype=float).tolist()
        self.vcpus = jobs["vcpus"].to_numpy(dtype=float).tolist()
        self.mem = jobs["memory_mib"].to_numpy(dtype=float).tolist()
        self.gpus = jobs["gpus"].to_numpy(dtype=np.int64).tolist()
        arch = jobs["arch"].where(jobs["arch"].notna(), "") if "arch" in jobs else pd.Series([""] * n)
        self.arch = arch.astype(str).tolist()
        status = jobs["status"] if "status" in jobs else pd.Series(["SUCCEEDED"] * n)
        self.fails = (status.astype(str) == "FAILED").tolist()
        # Shapes: identical requests share a waiting line (see the module docstring).
        # Factorize each column, combine the codes into one integer key, factorize that (fast at 1M).
        parts = [
            pd.factorize(col)[0].astype(np.int64)
            for col in (jobs["vcpus"], jobs["memory_mib"], jobs["gpus"], arch)
        ]
        key = np.zeros(n, dtype=np.int64)
        for codes in parts:
            key = key * (int(codes.max(initial=0)) + 1) + codes
        codes, _ = pd.factorize(key)
        firsts = np.unique(codes, return_index=True)[1] if n else np.zeros(0, dtype=np.int64)
        self.shape = codes.tolist()
        self.shape_v = [self.vcpus[k] for k in firsts]
        self.shape_m = [self.mem[k] for k in firsts]
        self.shape_g = [int(self.gpus[k]) for k in firsts]
        self.shape_arch = [self.arch[k] for k in firsts]
        # Retry strategies: the job's own (batch-json traces), else the configured default.
        default = self.options.default_retry_strategy
        self.strategies: list[RetryStrategy] = [default]
        self.job_strategy = [0] * n
        if "retry_strategy" in jobs:
            cache: dict[str, int] = {}
            for j, raw in enumerate(jobs["retry_strategy"].tolist()):
                if isinstance(raw, dict) and raw:
                    key = repr(sorted(raw.items()))
                    if key not in cache:
                        cache[key] = len(self.strategies)
                        self.strategies.append(
                            RetryStrategy.from_api(raw, f"job {self.job_ids[j]} retryStrategy")
                        )
                    self.job_strategy[j] = cache[key]
        elif "retry_attempts" in jobs:
            by_attempts: dict[int, int] = {}
            for j, attempts in enumerate(jobs["retry_attempts"].tolist()):
                if attempts is not None and not pd.isna(attempts) and int(attempts) != default.attempts:
                    k = by_attempts.get(int(attempts))
                    if k is None:
                        k = by_attempts[int(attempts)] = len(self.strategies)
                        self.strategies.append(RetryStrategy(int(attempts), default.evaluate_on_exit))
                    self.job_strategy[j] = k
        # Attempt timeouts: the job's own `timeout_s` (attemptDurationSeconds), else the default.
        default_timeout = self.options.default_attempt_duration_s
        if "timeout_s" in jobs:
            own = pd.to_numeric(jobs["timeout_s"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            self.timeout = np.where(np.isnan(own), default_timeout, own).tolist()
        else:
            self.timeout = [default_timeout] * n
        # Fair-share identifiers (`fair_share.py`): None when the history has no such column.
        self.job_share: list[str | None] | None = (
            [v if isinstance(v, str) and v else None for v in jobs["share_identifier"].tolist()]
            if "share_identifier" in jobs
            else None
        )
        self.job_priority = job_priorities(jobs)  # schedulingPriority, used by fair-share queues
        self._apply_revisions(jobs)
        self._load_gangs(jobs)  # multi-node parallel jobs (`gangs.py`)
        # Dependencies (ids not in the trace are ignored: they ended before it began).
        self.remaining = [0] * n
        self.dependents: dict[int, list[int]] = {}
        if "depends_on" in jobs:
            lists = jobs["depends_on"].tolist()
            having = [
                j for j, deps in enumerate(lists) if isinstance(deps, list | tuple | np.ndarray) and len(deps)
            ]
            index = {job_id: j for j, job_id in enumerate(self.job_ids)} if having else {}
            index.update(self.gang_alias)  # an MNP job's id and node ids stand for its main node
            for j in having:
                for dep in lists[j]:
                    d = index.get(str(dep))
                    if d is not None and d != j:
                        self.dependents.setdefault(d, []).append(j)
                        self.remaining[j] += 1
        self.state = [_NOT_ARRIVED] * n
        self.running = 0  # attempts in progress
        self.arrivals_left = n
        self.dep_failed = [False] * n
        self.attempts_done = [0] * n
        self.first_start = [math.nan] * n
        self.job_end = [math.nan] * n
        self.job_reason: list[str | None] = [None] * n
        self.runnable_order = [0] * n

    def _apply_revisions(self, jobs: pd.DataFrame) -> None:
        """Jobs of a definition with a new revision (`revisions.py`) take its retry strategy and timeout."""
        revisions = self.options.job_definition_revisions
        if not revisions:
            return
        if "job_definition_name" not in jobs:
            raise InputError(
                "jobs table: simulation.jobDefinitionRevisions needs a job_definition_name column"
            )
        index: dict[str, int] = {}
        for name, revision in revisions.items():
            if revision.retry_strategy is not None:
                index[name] = len(self.strategies)
                self.strategies.append(revision.retry_strategy)
        for j, name in enumerate(jobs["job_definition_name"].tolist()):
            revision = revisions.get(name)
            if revision is None:
                continue
            if revision.retry_strategy is not None:
                self.job_strategy[j] = index[name]
            if revision.attempt_duration_s is not None:
                self.timeout[j] = revision.attempt_duration_s

    def _load_config(self) -> None:
        config = self.config
        self.ces: list[ComputeEnvironment] = [ce for ce in config.compute_environments if ce.enabled]
        ce_index = {ce.name: k for k, ce in enumerate(self.ces)}
        queues = [q for q in config.queues if q.enabled]
        if not queues:
            # The estate's own queues, all DISABLED now, replay as they ran (their jobs are the
            # history); a configuration given to `simulate` is refused (`refuse_all_disabled`).
            queues = list(config.queues)
        self.queue_names = [q.name for q in queues]
        self.queue_state_limits = [q.state_time_limits for q in queues]
        self.queue_ces = [
            [ce_index[name] for name in q.compute_environments if name in ce_index] for q in queues
        ]
        by_name = {q.name: k for k, q in enumerate(queues)}
        self.job_queue: list[int] = []
        # Jobs whose queue the configuration does not name run on its first queue.
        for name in self.job_queue_names_source:
            self.job_queue.append(by_name.get(name, 0))
        self._load_fair_share(queues)
        # Blocked heads of queues (`head_blocking.py`); fair-share queues hold nothing behind them.
        self.heads = QueueHeads(len(queues), [f is None for f in self.fair])
        self.queue_gated = self.heads.gated
        ranked = sorted(range(len(queues)), key=lambda k: (-queues[k].priority, k))
        self.ce_queues = [[q for q in ranked if c in self.queue_ces[q]] for c in range(len(self.ces))]
        self.ce_vcpus = [0.0] * len(self.ces)  # vCPUs of launching + in-service instances (EC2) or tasks
        self.ce_ready: list[list[int]] = [[] for _ in self.ces]
        self.ce_launching: list[list[int]] = [[] for _ in self.ces]
        self.pending: list[dict[int, deque[int]]] = [{} for _ in queues]
        self.queue_pending = [0] * len(queues)
        self.fit_cache: dict[tuple[int, int], bool] = {}
        self.queue_feasible: dict[tuple[int, int], bool] = {}
        self.choice_cache: dict[tuple[int, int, int, float], InstanceSpec | None] = {}
        self.hazard = {
            spec.instance_type: spec.spot_hazard_per_hour / 3600.0
            for ce in self.ces
            for spec in ce.instance_types
        }
        self.fargate_hazard = config.fargate.spot_hazard_per_hour / 3600.0

    def _load_fair_share(self, queues: list) -> None:
        """Fair-share queues (`fair_share.py`): each job's share index in its queue (-1: a FIFO
        queue or a multi-node parallel job); `fs_share` is None when no queue has a policy."""
        self.fair: list[FairShareQueue | None] = [None] * len(queues)
        self.fs_share: list[int] | None = None
        if not any(q.scheduling_policy is not None for q in queues):
            return
        names = self.job_share if self.job_share is not None else [None] * self.n
        index: list[dict[str, int]] = [{} for _ in queues]
        self.fs_share = [-1] * self.n
        for j in range(self.n):
            q = self.job_queue[j]
            if queues[q].scheduling_policy is None or self.gang_of[j] >= 0:
                continue
            share = names[j] or ""
            k = index[q].get(share)
            if k is None:
                k = index[q][share] = len(index[q])
            self.fs_share[j] = k
        for q, queue in enumerate(queues):
            if queue.scheduling_policy is not None:
                shares = sorted(index[q], key=index[q].__getitem__)
                max_vcpus = sum(self.ces[c].max_vcpus for c in self.queue_ces[q])
                self.fair[q] = FairShareQueue(queue.scheduling_policy, shares, max_vcpus)

    # ----------------------------------------------------------------- helpers
    def _push(self, t: float, kind: int, x: int) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, kind, self.seq, x))

    def _feasible(self, c: int, s: int) -> bool:
        """Whether CE c could ever run a job of shape s (some type fits it within maxvCpus)."""
        key = (c, s)
        hit = self.fit_cache.get(key)
        if hit is not None:
            return hit
        ce = self.ces[c]
        v, m, g, arch = self.shape_v[s], self.shape_m[s], self.shape_g[s], self.shape_arch[s]
        if ce.is_fargate:
            size = fargate_size(v, m, g)
            ok = size is not None and size[0] <= ce.max_vcpus + EPS and arch in ("", "x86_64")
        else:
            ok = ce.max_vcpus > 0 and any(
                jobs_per_instance(spec, v, m, g) > 0
                and (not arch or spec.arch == arch)
                and (not ce.strict_max or spec.vcpus <= ce.max_vcpus + EPS)
                for spec in ce.instance_types
            )
        self.fit_cache[key] = ok
        return ok

    def _fits(self, i: int, s: int) -> bool:
        arch = self.shape_arch[s]
        return (
            self.free_v[i] + EPS >= self.shape_v[s]
            and self.free_m[i] + EPS >= self.shape_m[s]
            and self.free_g[i] >= self.shape_g[s]
            and (not arch or self.i_spec[i].arch == arch)
        )

    def _launch_headroom(self, c: int, s: int) -> tuple[bool, float | None]:
        """Whether CE `c` may launch an instance for shape `s` under its maxvCpus rule, and the
        vCPUs it has left when that maximum is strict (None: Batch may overshoot it once)."""
        ce = self.ces[c]
        if ce.strict_max:
            headroom = ce.max_vcpus - self.ce_vcpus[c]
            return headroom >= self.shape_v[s] - EPS, headroom
        return self.ce_vcpus[c] < ce.max_vcpus - EPS, None

    def _choose_type(self, c: int, s: int, waiting: int) -> InstanceSpec | None:
        ce = self.ces[c]
        may_launch, headroom = self._launch_headroom(c, s)
        if not may_launch:
            return None
        if self.shortages.active:
            return self._choose_type_in_shortage(c, s, waiting, headroom)
        key = (c, s, min(waiting, 256), -1.0 if headroom is None else headroom)
        if key in self.choice_cache:
            return self.choice_cache[key]
        arch = self.shape_arch[s]
        candidates = [spec for spec in ce.instance_types if not arch or spec.arch == arch]
        spec = self._pick_type(ce, candidates, s, waiting, headroom)
        self.choice_cache[key] = spec
        return spec

    def _pick_type(
        self,
        ce: ComputeEnvironment,
        candidates: list[InstanceSpec],
        s: int,
        waiting: int,
        headroom: float | None,
    ) -> InstanceSpec | None:
        """Batch's choice among `candidates` for `waiting` jobs of shape `s` under CE `ce`'s
        allocation strategy (the one call every launch path makes)."""
        return choose_instance_type(
            candidates,
            ce.allocation_strategy,
            ce.is_spot,
            self.shape_v[s],
            self.shape_m[s],
            self.shape_g[s],
            waiting,
            headroom,
            ce.priorities,
        )

    def _choose_type_in_shortage(
        self, c: int, s: int, waiting: int, headroom: float | None
    ) -> InstanceSpec | None:
        """`_choose_type` among the types not short now (uncached: availability changes with the
        clock); when a shortage refuses the launch, the CE's waiting jobs are offered launches
        again as soon as the earliest shortage ends."""
        ce = self.ces[c]
        arch = self.shape_arch[s]
        candidates = [spec for spec in ce.instance_types if not arch or spec.arch == arch]
        open_, ends = [], []
        for spec in candidates:
            until = self.shortages.short_until(spec.instance_type, ce.capacity_type, self.now)
            if until is None:
                open_.append(spec)
            else:
                ends.append(until)
        spec = self._pick_type(ce, open_, s, waiting, headroom)
        if spec is None and ends:
            self.launches_refused += 1
            retry = min(ends)
            if retry < self.shortage_retry_at[c]:
                self.shortage_retry_at[c] = retry
                self._push(retry, _SHORTAGE_END, c)
        return spec

    # ----------------------------------------------------------------- instances
    def _launch(self, c: int, spec: InstanceSpec, t: float) -> int:
        i = len(self.i_ce)
        self.i_ce.append(c)
        self.i_spec.append(spec)
        self.i_launch.append(t)
        self.i_end.append(math.nan)
        self.i_state.append(0)
        self.i_end_reason.append("")
        self.free_v.append(spec.vcpus)
        self.free_m.append(spec.allocatable_memory_mib)
        self.free_g.append(spec.gpus)
        self.i_running.append([])
        self.i_bound.append([])
        self.i_idle_token.append(0)
        self.ce_vcpus[c] += spec.vcpus
        self.ce_launching[c].append(i)
        self._push(t + self.options.launch_delay_s, _READY, i)
        return i

    def _reserve(self, j: int, i: int) -> None:
        s = self.shape[j]
        self.free_v[i] -= self.shape_v[s]
        self.free_m[i] -= self.shape_m[s]
        self.free_g[i] -= self.shape_g[s]
        if self.fs_share is not None and self.fs_share[j] >= 0:
            self.fair[self.job_queue[j]].placed_job(self.fs_share[j], self.shape_v[s], self.now)  # type: ignore[union-attr]

    def _on_ready(self, i: int, t: float) -> None:
        c = self.i_ce[i]
        self.ce_launching[c].remove(i)
        self.i_state[i] = 1
        self.ce_ready[c].append(i)
        for j in self.i_bound[i]:
            self._start(j, i, t)
        self.i_bound[i] = []
        if self.ces[c].is_spot:
            hazard = self.hazard.get(self.i_spec[i].instance_type, 0.0)
            if hazard > 0:
                self._push(t + self.rng.expovariate(hazard), _RECLAIM, i)
        if i in self.gang_hold:
            self._gang_instance_ready(i, t)
            return
        self._fill_instance(i, t)
        if not self.i_running[i]:
            self._mark_idle(i, t)

    def _mark_idle(self, i: int, t: float) -> None:
        self.seq += 1
        self.i_idle_token[i] = self.seq
        heapq.heappush(self.heap, (t + self.options.scale_in_idle_s, _IDLE, self.seq, i))

    def _on_idle_check(self, i: int, token: int, t: float) -> None:
        if self.i_state[i] != 1 or self.i_running[i] or self.i_idle_token[i] != token or i in self.gang_hold:
            return
        c = self.i_ce[i]
        if self.ce_vcpus[c] - self.i_spec[i].vcpus < self.ces[c].min_vcpus - EPS:
            return  # kept to honour minvCpus
        self._terminate(i, t, "scale-in: idle")

    def _terminate(self, i: int, t: float, reason: str) -> None:
        c = self.i_ce[i]
        self.i_state[i] = 2
        self.i_end[i] = t
        self.i_end_reason[i] = reason
        self.ce_ready[c].remove(i)
        self.ce_vcpus[c] -= self.i_spec[i].vcpus
        self._retry_launches(c, t)

    def _on_reclaim(self, i: int, t: float) -> None:
        if self.i_state[i] != 1:
            return
        idle = not any(self.queue_pending) and not self.heads.held_jobs
        if not self.running and not self.arrivals_left and idle:
            return  # all work is done: the instance ends at its idle check or with the replay
        victims = self.i_running[i]
        self.i_running[i] = []
        self.free_v[i] = self.i_spec[i].vcpus
        self.free_m[i] = self.i_spec[i].allocatable_memory_mib
        self.free_g[i] = self.i_spec[i].gpus
        self._terminate(i, t, "spot reclaim")
        if self.running or self.arrivals_left:
            # Batch replaces reclaimed capacity it must keep for minvCpus; once no job runs and none
            # is still to arrive, the replay is over and nothing is replaced.
            self._top_up(self.i_ce[i], self.ces[self.i_ce[i]].min_vcpus, t)
        reason = reclaim_status_reason(self.instance_name(i))
        self.running -= len(victims)  # never a gang's node: gangs run on on-demand only (`gangs.py`)
        for a in victims:
            self.a_done[a] = True
            self.a_end[a] = t
            self.a_reclaim[a] = True
            self.a_reason[a] = reason
            self._after_attempt(self.a_job[a], t, None, reason)

    # ----------------------------------------------------------------- attempts
    def _start(self, j: int, i: int, t: float) -> None:
        """Start an attempt of job j on instance i (its capacity is already reserved)."""
        a = len(self.a_job)
        fails = self.fails[j]
        self.a_job.append(j)
        self.a_inst.append(i)
        self.a_ce.append(self.i_ce[i])
        self.a_start.append(t)
        self.a_end.append(math.nan)
        timed_out = self.timeout[j] < self.runtime[j]
        self.a_exit.append(None if timed_out else (1 if fails else 0))
        self.a_reason.append(TIMEOUT_REASON if timed_out else CONTAINER_EXIT_REASON)
        self.a_reclaim.append(False)
        self.a_done.append(False)
        s = self.shape[j]
        self.a_vcpus.append(self.shape_v[s])
        self.a_mem.append(self.shape_m[s])
        self.a_cost.append(0.0)
        self.i_running[i].append(a)
        self.running += 1
        self.state[j] = _RUNNING
        if self.first_start[j] != self.first_start[j]:  # NaN: first attempt
            self.first_start[j] = t
        self._push(t + min(self.runtime[j], self.timeout[j]), _END, a)

    def _start_fargate(self, j: int, c: int, size: tuple[float, float], t: float) -> None:
        ce = self.ces[c]
        pricing = self.config.fargate
        start = t + self.options.fargate_start_delay_s
        end = start + min(self.runtime[j], self.timeout[j])
        timed_out = self.timeout[j] < self.runtime[j]
        interrupted = False
        if ce.is_spot and self.fargate_hazard > 0:
            lifetime = self.rng.expovariate(self.fargate_hazard)
            if t + lifetime < end:
                end, interrupted, timed_out = t + lifetime, True, False
        a = len(self.a_job)
        self.a_job.append(j)
        self.a_inst.append(-1)
        self.a_ce.append(c)
        self.a_start.append(min(start, end))
        self.a_end.append(math.nan)
        self.a_exit.append(None if interrupted or timed_out else (1 if self.fails[j] else 0))
        self.a_reason.append(
            FARGATE_SPOT_REASON if interrupted else TIMEOUT_REASON if timed_out else CONTAINER_EXIT_REASON
        )
        self.a_reclaim.append(interrupted)
        self.a_done.append(False)
        self.a_vcpus.append(size[0])
        self.a_mem.append(size[1])
        rate = size[0] * pricing.vcpu_hour + size[1] / 1024.0 * pricing.gib_hour
        if ce.is_spot:
            rate *= 1.0 - pricing.spot_discount
        self.a_cost.append(rate * max(end - t, pricing.minimum_seconds) / 3600.0)
        self.ce_vcpus[c] += size[0]
        self.running += 1
        self.state[j] = _RUNNING
        if self.fs_share is not None and self.fs_share[j] >= 0:
            self.fair[self.job_queue[j]].placed_job(self.fs_share[j], self.vcpus[j], t)  # type: ignore[union-attr]
        if self.first_start[j] != self.first_start[j]:
            self.first_start[j] = min(start, end)
        self._push(end, _END, a)

    def _on_end(self, a: int, t: float) -> None:
        if self.a_done[a]:
            return  # ended earlier by a reclaim
        if self.gang_of[self.a_job[a]] >= 0:
            self._end_gang_attempt(a, t)
            return
        self.a_done[a] = True
        self.a_end[a] = t
        self.running -= 1
        j = self.a_job[a]
        i = self.a_inst[a]
        if i < 0:
            c = self.a_ce[a]
            self.ce_vcpus[c] -= self.a_vcpus[a]
            self._after_attempt(j, t, self.a_exit[a], self.a_reason[a])
            self._fill_fargate(c, t)
            return
        s = self.shape[j]
        self.free_v[i] += self.shape_v[s]
        self.free_m[i] += self.shape_m[s]
        self.free_g[i] += self.shape_g[s]
        self.i_running[i].remove(a)
        self._after_attempt(j, t, self.a_exit[a], self.a_reason[a])
        if self.gang_waiting and not self.i_running[i]:
            self._offer_gangs(t)
        self._fill_instance(i, t)
        if not self.i_running[i] and self.i_state[i] == 1:
            self._mark_idle(i, t)

    def _after_attempt(self, j: int, t: float, exit_code: int | None, status_reason: str | None) -> None:
        self.attempts_done[j] += 1
        if self.fs_share is not None and self.fs_share[j] >= 0:
            self._share_attempt_ended(j, t)
        if exit_code == 0:
            self.state[j] = _SUCCEEDED
            self.job_end[j] = t
            self.job_reason[j] = "Essential container in task exited"
            for d in self.dependents.get(j, ()):
                self.remaining[d] -= 1
                if self.remaining[d] == 0 and self.state[d] == _WAITING_DEPS:
                    self._make_runnable(d, t, 1)
            return
        strategy = self.strategies[self.job_strategy[j]]
        if status_reason == TIMEOUT_REASON:
            self._fail(j, t, status_reason)  # Batch never retries an attempt that timed out
        elif strategy.should_retry(self.attempts_done[j], status_reason, None, exit_code):
            self._make_runnable(j, t, 1)
        else:
            self._fail(j, t, status_reason or "failed")

    def _share_attempt_ended(self, j: int, t: float) -> None:
        """Usage of the job's share drops; if the compute reservation held a job of its queue
        back, the queue's compute environments offer their room again at this instant."""
        q = self.job_queue[j]
        fs = self.fair[q]
        assert fs is not None
        fs.ended(self.fs_share[j], self.shape_v[self.shape[j]], t)  # type: ignore[index]
        if fs.held_back and self._fair_open(q, t):
            fs.held_back = False
            self._push(t, _SHARE_RETRY, q)

    def _share_retry(self, q: int, t: float) -> None:
        """Offer fair-share queue q, which its compute reservation closed, the room of its compute
        environments' instances and launches (only q: nothing else changed)."""
        for c in self.queue_ces[q]:
            if self.ces[c].is_fargate:
                self._fill_fargate_fair(c, q, t)
                continue
            for i in [i for i in self.ce_ready[c] if self.free_v[i] > EPS]:
                if self.queue_pending[q]:
                    self._fill_instance_fair(i, q, t)
            if self.queue_pending[q]:
                self._retry_launches_fair(c, q, t)

    def _fail(self, j: int, t: float, reason: str) -> None:
        self.state[j] = _FAILED
        self.job_end[j] = t
        self.job_reason[j] = reason
        for d in self.dependents.get(j, ()):
            if self.state[d] == _WAITING_DEPS:
                self._fail(d, t, f"dependency {self.job_ids[j]} failed")
            elif self.state[d] == _NOT_ARRIVED:
                self.dep_failed[d] = True

    # ----------------------------------------------------------------- dispatch
    def _arrive(self, j: int, t: float, hint: int) -> None:
        if self.gang_of[j] >= 0 and self.gang_nodes[self.gang_of[j]][0] != j:
            return  # an MNP job's other nodes go through the queue with its main node
        if self.dep_failed[j]:
            self._fail(j, t, "a dependency failed")
        elif self.remaining[j] > 0:
            self.state[j] = _WAITING_DEPS
        else:
            self._make_runnable(j, t, hint)

    def _make_runnable(self, j: int, t: float, hint: int) -> None:
        if self.gang_of[j] >= 0:
            self._gang_runnable(j, t)
            return
        q = self.job_queue[j]
        s = self.shape[j]
        self.runnable_seq += 1
        self.runnable_order[j] = self.runnable_seq
        feasible = self.queue_feasible.get((q, s))
        if feasible is None:
            feasible = self.queue_feasible[(q, s)] = any(self._feasible(c, s) for c in self.queue_ces[q])
        if not feasible:
            self._block(j, q, s, t)
            return
        if self.queue_gated[q]:  # a blocked job heads the queue: this one waits behind it
            self.state[j] = _PENDING
            self.heads.hold(q, j)
            return
        fs_share = self.fs_share
        if fs_share is not None and fs_share[j] >= 0 and self.fair[q].runnable(fs_share[j], t):  # type: ignore[union-attr]
            self._push(t, _SHARE_RETRY, q)  # a new active share: the reserve shrank
        waiting = self.pending[q].get(s)
        if (waiting and len(waiting)) or not self._place(j, q, s, t, hint):
            self._enqueue(j, q, s)

    def _block(self, j: int, q: int, s: int, t: float) -> None:
        """Job j of shape s can never run in queue q: it heads the queue with Batch's blocked reason
        for its shape (`timeouts.blocked_reason`)."""
        self._hold_head(
            j,
            q,
            t,
            self._blocked_reason(q, s),
            f"no compute environment of queue {self.queue_names[q]} can run {self.shape_v[s]:g} vCPU, "
            f"{self.shape_m[s]:g} MiB, {self.shape_g[s]} GPU",
        )

    def _hold_head(self, j: int, q: int, t: float, reason: str, failure: str) -> None:
        """Job j can never run in queue q (for `reason`): it heads the queue, RUNNABLE and blocking
        the jobs behind it, until a matching job-state time limit action (or its owner, after
        `simulation.blockedJobCancelSeconds`) removes it; with neither it fails at once, its status
        reason `failure`. Single jobs and gangs (`gangs.py`) both come here."""
        action = matching_action(self.queue_state_limits[q], reason)
        hold_s = action.max_time_s if action is not None else self.options.blocked_job_cancel_s
        if hold_s > 0:
            self.state[j] = _PENDING  # RUNNABLE, blocked
            by = BY_ACTION if action is not None else BY_OWNER
            self._push(self.heads.block(q, j, t, hold_s, reason, by), _STATE_LIMIT, j)
            return
        self.heads.failed_at_once(q, j, t, reason)
        self._fail(j, t, failure)

    def _remove_blocked(self, j: int, t: float) -> None:
        """Blocked job j leaves the head of its queue (cancelled); the jobs it held are offered
        capacity in FIFO order, as a burst of arrivals would be."""
        q = self.job_queue[j]
        entry, freed = self.heads.remove(q, j, self.runnable_order)
        if entry.removed_by == BY_ACTION:
            reason = cancelled_reason(entry.reason)
        else:
            reason = (
                f"cancelled by its owner after {entry.removed_at - entry.head_at:g} s blocking queue "
                f"{self.queue_names[q]} ({entry.reason})"
            )
        self._fail(j, t, reason)
        left = Counter(self.shape[k] for k in freed)
        for k in freed:
            s = self.shape[k]
            waiting = self.pending[q].get(s)
            if (waiting and len(waiting)) or not self._place(k, q, s, t, left[s]):
                self._enqueue(k, q, s)
            left[s] -= 1

    def _blocked_reason(self, q: int, s: int) -> str:
        ces = [self.ces[c] for c in self.queue_ces[q]]
        return blocked_reason(ces, self.shape_v[s], self.shape_m[s], self.shape_g[s], self.shape_arch[s])

    def _enqueue(self, j: int, q: int, s: int) -> None:
        self.state[j] = _PENDING
        line = self.pending[q].get(s)
        if self.fair[q] is not None:
            if line is None:
                line = self.pending[q][s] = ShareLine()  # type: ignore[assignment]
            line.push(self.fs_share[j], self.job_priority[j], self.runnable_order[j], j)  # type: ignore[union-attr,index]
        else:
            if line is None:
                line = self.pending[q][s] = deque()
            line.append(j)
        self.queue_pending[q] += 1

    def _place(self, j: int, q: int, s: int, t: float, hint: int) -> bool:
        if self.fair[q] is not None and not self._fair_open(q, t):
            return False  # the compute reservation holds it back until the queue's usage drops
        for c in self.queue_ces[q]:
            if not self._feasible(c, s):
                continue
            ce = self.ces[c]
            if ce.is_fargate:
                size = fargate_size(self.shape_v[s], self.shape_m[s], self.shape_g[s])
                if size is not None and self.ce_vcpus[c] + size[0] <= ce.max_vcpus + EPS:
                    self._start_fargate(j, c, size, t)
                    return True
                continue
            for i in self.ce_ready[c]:
                if self._fits(i, s):
                    self._reserve(j, i)
                    self._start(j, i, t)
                    return True
            for i in self.ce_launching[c]:
                if self._fits(i, s):
                    self._reserve(j, i)
                    self.i_bound[i].append(j)
                    self.state[j] = _BOUND
                    return True
            spec = self._choose_type(c, s, hint)
            if spec is not None:
                i = self._launch(c, spec, t)
                self._reserve(j, i)
                self.i_bound[i].append(j)
                self.state[j] = _BOUND
                return True
        return False

    def _pop_waiting(self, q: int, s: int) -> int:
        line = self.pending[q][s]
        j = line.popleft()
        if not line:
            del self.pending[q][s]
        self.queue_pending[q] -= 1
        return j

    def _fill_instance(self, i: int, t: float) -> None:
        """Offer instance i's free room to waiting jobs: queue priority, then FIFO across shapes."""
        if self.i_state[i] != 1:
            return
        order = self.runnable_order
        for q in self.ce_queues[self.i_ce[i]]:
            if not self.queue_pending[q]:
                continue
            if self.fair[q] is not None:
                self._fill_instance_fair(i, q, t)
                continue
            lines = self.pending[q]
            while lines:
                best_s, best_seq = -1, 0
                for s, line in lines.items():
                    if self._fits(i, s):
                        head = order[line[0]]
                        if best_s < 0 or head < best_seq:
                            best_s, best_seq = s, head
                if best_s < 0:
                    break
                j = self._pop_waiting(q, best_s)
                self._reserve(j, i)
                self._start(j, i, t)

    def _fill_fargate(self, c: int, t: float) -> None:
        ce = self.ces[c]
        order = self.runnable_order
        for q in self.ce_queues[c]:
            if self.fair[q] is not None:
                self._fill_fargate_fair(c, q, t)
                continue
            lines = self.pending[q]
            while lines:
                best_s, best_seq, best_size = -1, 0, (0.0, 0.0)
                room = ce.max_vcpus - self.ce_vcpus[c] + EPS
                for s, line in lines.items():
                    size = fargate_size(self.shape_v[s], self.shape_m[s], self.shape_g[s])
                    if size is not None and size[0] <= room and self._feasible(c, s):
                        head = order[line[0]]
                        if best_s < 0 or head < best_seq:
                            best_s, best_seq, best_size = s, head, size
                if best_s < 0:
                    break
                self._start_fargate(self._pop_waiting(q, best_s), c, best_size, t)

    def _retry_launches(self, c: int, t: float) -> None:
        """Headroom opened in CE c: launch for waiting jobs, priority then FIFO, while it lasts."""
        self._offer_gangs(t)
        for q in self.ce_queues[c]:
            if not self.queue_pending[q]:
                continue
            if self.fair[q] is not None:
                self._retry_launches_fair(c, q, t)
                continue
            lines = self.pending[q]
            heads = sorted((self.runnable_order[line[0]], s) for s, line in lines.items())
            for _, s in heads:
                if not self._feasible(c, s):
                    continue
                while s in lines:
                    spec = self._choose_type(c, s, len(lines[s]))
                    if spec is None:
                        break
                    i = self._launch(c, spec, t)
                    while s in lines and self._fits(i, s):
                        j = self._pop_waiting(q, s)
                        self._reserve(j, i)
                        self.i_bound[i].append(j)
                        self.state[j] = _BOUND

    # ----------------------------------------------------------------- fair share (`fair_share.py`)
    def _next_fair(self, q: int, t: float, fits: Callable[[int], bool]) -> tuple[int, int] | None:
        """The shape and share of fair-share queue q's next job among the shapes `fits` accepts:
        the lowest (weighted share usage, -schedulingPriority, FIFO order); None when none fits
        or the compute reservation closes the queue."""
        fs = self.fair[q]
        assert fs is not None
        if not self._fair_open(q, t):
            return None
        score = fs.scores(t)
        best: tuple[tuple[float, int, int], int, int] | None = None
        for s, line in self.pending[q].items():
            if not fits(s):
                continue
            key, k = line.best(score)  # type: ignore[attr-defined]
            if best is None or key < best[0]:
                best = (key, s, k)
        return None if best is None else (best[1], best[2])

    def _fair_open(self, q: int, t: float) -> bool:
        """Whether fair-share queue q may place another job under its compute reservation; when
        not, it is offered capacity again once its usage drops (`_share_attempt_ended`)."""
        fs = self.fair[q]
        assert fs is not None
        if fs.reserve <= 0:
            return True
        if fs.is_open(t, sum(self.ce_vcpus[c] for c in self.queue_ces[q])):
            return True
        fs.held_back = True
        return False

    def _pop_fair(self, q: int, s: int, k: int) -> int:
        line = self.pending[q][s]
        j = line.pop(k)  # type: ignore[call-arg]
        if not line:
            del self.pending[q][s]
        self.queue_pending[q] -= 1
        return j

    def _fill_instance_fair(self, i: int, q: int, t: float) -> None:
        while self.queue_pending[q]:
            pick = self._next_fair(q, t, lambda s: self._fits(i, s))
            if pick is None:
                return
            j = self._pop_fair(q, *pick)
            self._reserve(j, i)
            self._start(j, i, t)

    def _fill_fargate_fair(self, c: int, q: int, t: float) -> None:
        ce = self.ces[c]
        while self.queue_pending[q]:
            room = ce.max_vcpus - self.ce_vcpus[c] + EPS

            def fits(s: int, room: float = room) -> bool:
                size = fargate_size(self.shape_v[s], self.shape_m[s], self.shape_g[s])
                return size is not None and size[0] <= room and self._feasible(c, s)

            pick = self._next_fair(q, t, fits)
            if pick is None:
                return
            s = pick[0]
            size = fargate_size(self.shape_v[s], self.shape_m[s], self.shape_g[s])
            assert size is not None
            self._start_fargate(self._pop_fair(q, *pick), c, size, t)

    def _retry_launches_fair(self, c: int, q: int, t: float) -> None:
        """`_retry_launches` for fair-share queue q: shapes in the order of their next job's
        share key, each new instance taking that shape's jobs in share order while the compute
        reservation leaves room (with one share, exactly the FIFO pass)."""
        fs = self.fair[q]
        assert fs is not None
        lines = self.pending[q]
        score = fs.scores(t)
        heads = sorted((line.best(score)[0], s) for s, line in lines.items())  # type: ignore[attr-defined]
        for _, s in heads:
            if not self._feasible(c, s):
                continue
            while s in lines:
                if not self._fair_open(q, t):
                    return
                spec = self._choose_type(c, s, len(lines[s]))
                if spec is None:
                    break
                i = self._launch(c, spec, t)
                while s in lines and self._fits(i, s) and self._fair_open(q, t):
                    _, k = lines[s].best(fs.scores(t))  # type: ignore[attr-defined]
                    j = self._pop_fair(q, s, k)
                    self._reserve(j, i)
                    self.i_bound[i].append(j)
                    self.state[j] = _BOUND

    def _start_minimum_capacity(self, t: float) -> None:
        """Launch instances for desiredvCpus (at least minvCpus) when the replay starts."""
        for c, ce in enumerate(self.ces):
            self._top_up(c, max(ce.min_vcpus, ce.desired_vcpus), t)

    def _top_up(self, c: int, target: float, t: float) -> None:
        """Launch until CE c has `target` vCPUs. Batch picks these types itself; the replay uses the
        CE's cheapest type per vCPU."""
        ce = self.ces[c]
        if ce.is_fargate or target <= 0 or not ce.instance_types:
            return
        price = (lambda s: s.spot_price) if ce.is_spot else (lambda s: s.ondemand_price)
        spec = min(ce.instance_types, key=lambda s: (price(s) / s.vcpus, s.vcpus, s.instance_type))
        while self.ce_vcpus[c] < target - EPS:
            if ce.strict_max and self.ce_vcpus[c] + spec.vcpus > ce.max_vcpus + EPS:
                break
            self._launch(c, spec, t)

    # ----------------------------------------------------------------- main loop
    def run(self) -> None:
        order = sorted(range(self.n), key=self.submit.__getitem__)
        submit = self.submit
        heap = self.heap
        pop = heapq.heappop
        t0 = submit[order[0]] if self.n else 0.0
        self._start_minimum_capacity(t0)
        ptr, n = 0, self.n
        while ptr < n or heap:
            if heap and (ptr >= n or (heap[0][0], heap[0][1]) < (submit[order[ptr]], _ARRIVE)):
                t, kind, token, x = pop(heap)
                self.now = t
                if kind == _END:
                    self._on_end(x, t)
                elif kind == _READY:
                    self._on_ready(x, t)
                elif kind == _RECLAIM:
                    self._on_reclaim(x, t)
                elif kind == _SHORTAGE_END:
                    if t >= self.shortage_retry_at[x]:
                        self.shortage_retry_at[x] = math.inf
                        self._retry_launches(x, t)
                elif kind == _STATE_LIMIT:
                    self._remove_blocked(x, t)
                elif kind == _SHARE_RETRY:
                    self._share_retry(x, t)
                else:
                    self._on_idle_check(x, token, t)
                continue
            t = self.now = submit[order[ptr]]
            end = ptr + 1
            while end < n and submit[order[end]] == t:
                end += 1
            if end - ptr == 1:
                self._arrive(order[ptr], t, 1)
            else:
                # A burst: tell the allocation strategy how many identical jobs arrive together.
                batch = order[ptr:end]
                left = Counter((self.job_queue[j], self.shape[j]) for j in batch)
                for j in batch:
                    key = (self.job_queue[j], self.shape[j])
                    self._arrive(j, t, left[key])
                    left[key] -= 1
            ptr = end
            self.arrivals_left = n - ptr
        self._finish()

    def _finish(self) -> None:
        """Close the books: jobs that could never run fail, surviving instances stop at the horizon."""
        ends = [e for e in self.a_end if e == e]
        horizon = max(ends) if ends else (min(self.submit) if self.n else 0.0)
        for j in range(self.n):
            if self.state[j] in (_PENDING, _WAITING_DEPS, _BOUND, _NOT_ARRIVED):
                reason = (
                    "a dependency never completed"
                    if self.state[j] == _WAITING_DEPS
                    else "never placed: the queue's compute environments never had room"
                )
                self.state[j] = _FAILED
                self.job_end[j] = max(horizon, self.submit[j])
                self.job_reason[j] = reason
        for i in range(len(self.i_ce)):
            if self.i_state[i] != 2:
                self.i_state[i] = 2
                # `simulation.billUntilSeconds` can only extend it.
                self.i_end[i] = max(horizon, self.options.bill_until_s, self.i_launch[i])
                self.i_end_reason[i] = "end of replay"
        self._finish_gangs()

    def instance_name(self, i: int) -> str:
        return f"i-sim{i:012d}"
