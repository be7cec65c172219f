"""The configuration a replay runs: Batch's own CreateComputeEnvironment / CreateJobQueue bodies.

Using the API's request bodies means the current estate (DescribeComputeEnvironments output is a
superset) and a recommendation (which the planner turns into exactly these calls) replay through
the same parser. An optional `simulation` object sets the model's own knobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from optimizer.aws.service_models import api_enum, api_members
from optimizer.catalog.batch_rules import (
    ALLOCATION_STRATEGIES,
    CE_TYPES,
    EC2_CE_TYPES,
    FARGATE_CE_TYPES,
    allocation_strategy,
    families_of_entry,
)
from optimizer.errors import ConfigError
from optimizer.simulate.catalog import Catalog, FargatePricing, InstanceSpec
from optimizer.simulate.fair_share import SchedulingPolicy, policies_from_api
from optimizer.simulate.retry import RetryStrategy
from optimizer.simulate.revisions import DefinitionRevision, revisions_from_api
from optimizer.simulate.shortages import ShortageRule, shortages_from_api
from optimizer.simulate.timeouts import StateTimeLimitAction, attempt_duration_from_api, state_limits_from_api
from optimizer.solver.problem import Commitment

EC2_KINDS = EC2_CE_TYPES
FARGATE_KINDS = FARGATE_CE_TYPES


@dataclass(frozen=True)
class ComputeEnvironment:
    """A managed CE as the replay models it."""

    name: str
    kind: str  # EC2 | SPOT | FARGATE | FARGATE_SPOT
    allocation_strategy: str
    min_vcpus: float
    max_vcpus: float
    desired_vcpus: float
    instance_types: tuple[InstanceSpec, ...] = ()
    enabled: bool = True
    #: For ordered strategies: instance type -> rank of the `instanceTypes` entry it came from.
    priorities: Mapping[str, int] = field(default_factory=dict, hash=False)

    @property
    def is_fargate(self) -> bool:
        return self.kind in FARGATE_KINDS

    @property
    def is_spot(self) -> bool:
        return self.kind in ("SPOT", "FARGATE_SPOT")

    @property
    def capacity_type(self) -> str:
        """The store's capacity_type for EC2 CEs; Fargate CEs report their kind."""
        if self.is_fargate:
            return self.kind
        return "SPOT" if self.is_spot else "ON_DEMAND"

    @property
    def strict_max(self) -> bool:
        """BEST_FIT on on-demand never exceeds maxvCpus; every other strategy may by one instance."""
        rule = ALLOCATION_STRATEGIES.get(self.allocation_strategy)
        return self.kind == "EC2" and rule is not None and rule.strict_max_on_demand


@dataclass(frozen=True)
class JobQueue:
    name: str
    priority: int
    compute_environments: tuple[str, ...]
    enabled: bool = True
    #: `jobStateTimeLimitActions` (see `optimizer.simulate.timeouts`).
    state_time_limits: tuple[StateTimeLimitAction, ...] = ()
    #: The fair-share policy `schedulingPolicyArn` names (`optimizer.simulate.fair_share`); None: FIFO.
    scheduling_policy: SchedulingPolicy | None = None


@dataclass(frozen=True)
class SimulationOptions:
    """The model's knobs. Defaults: an EC2 instance joins the cluster 180 s after launch (boot plus
    ECS agent registration, typical of Batch's ECS-optimized AMI); idle instances are terminated
    after 300 s; a Fargate task starts 60 s after dispatch (image pull); jobs without a retry
    strategy of their own get `default_retry_strategy` (Batch's default is a single attempt), and
    jobs without a timeout of their own `default_attempt_duration_s` (Batch's default: none)."""

    seed: int = 0
    launch_delay_s: float = 180.0
    scale_in_idle_s: float = 300.0
    fargate_start_delay_s: float = 60.0
    default_retry_strategy: RetryStrategy = field(default_factory=RetryStrategy)
    default_attempt_duration_s: float = float("inf")
    #: Instances still up when the replay ends are billed at least until this second: two replays
    #: that end at different times then bill the capacity kept for minvCpus over the same span.
    bill_until_s: float = 0.0
    #: New job definition revisions by definition name (`optimizer.simulate.revisions`).
    job_definition_revisions: Mapping[str, DefinitionRevision] = field(default_factory=dict, hash=False)
    #: Spans when pools cannot launch (`optimizer.simulate.shortages`); none by default.
    capacity_shortages: tuple[ShortageRule, ...] = ()
    #: How long a job no compute environment can run blocks its queue's head when no
    #: `jobStateTimeLimitActions` entry matches its reason, before its owner cancels it
    #: (`optimizer.simulate.head_blocking`); 0 fails it at once without blocking.
    blocked_job_cancel_s: float = 0.0


@dataclass(frozen=True)
class ReplayConfig:
    compute_environments: tuple[ComputeEnvironment, ...]
    queues: tuple[JobQueue, ...]
    options: SimulationOptions = field(default_factory=SimulationOptions)
    fargate: FargatePricing = field(default_factory=FargatePricing)
    #: Savings Plans and Reserved Instances in force: the summary's cost covers on-demand usage and
    #: charges their fees (`optimizer.simulate.commitments`); set by the caller, not the document.
    commitments: tuple[Commitment, ...] = ()

    def environment(self, name: str) -> ComputeEnvironment:
        return next(ce for ce in self.compute_environments if ce.name == name)


def _name_from_ref(ref: str) -> str:
    """CE and queue references may be names or ARNs (`...:compute-environment/NAME`)."""
    return ref.rsplit("/", 1)[-1] if ref.startswith("arn:") else ref


def _refuse_unknown_keys(body: dict, where: str, problems: list[str], api: str, *shapes: str) -> None:
    """A key the API does not have is a typo the replay would silently ignore (`maxVcpus` read as
    no maxvCpus at all), so it is named, with `api` (what the body may come from)."""
    for key in sorted(set(body) - api_members(*shapes)):
        problems.append(f"{where}.{key}: unknown field (not in {api})")


def _state(body: dict, where: str, problems: list[str], shape: str) -> bool:
    """Whether `state` (default ENABLED) is ENABLED; a value outside the model's `shape` enum
    (CEState, JQState: ENABLED, DISABLED) is named (`"Disabled"` would have replayed as enabled)."""
    state = body.get("state", "ENABLED")
    allowed = api_enum(shape)
    if state not in allowed:
        problems.append(f"{where}.state: {state!r}: must be {' or '.join(allowed)}")
    return state != "DISABLED"


def _number(value: Any, where: str, problems: list[str], *, default: float | None = None) -> float:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        problems.append(f"{where}: must be a non-negative number, got {value!r}")
        return default or 0.0
    return float(value)


def _expand_types(
    names: list[Any], catalog: Catalog, where: str, problems: list[str]
) -> tuple[list[InstanceSpec], dict[str, int]]:
    """Entries (types, families, Batch aliases) -> specs, and each type's entry rank.

    An explicit type keeps its own rank and leaves its family's expansion (as Batch does for its
    ordered strategies); unordered strategies ignore the ranks.
    """
    families = catalog.families()
    explicit = {n for n in names if isinstance(n, str) and n in catalog.types}
    chosen: dict[str, InstanceSpec] = {}
    ranks: dict[str, int] = {}
    for rank, name in enumerate(names):
        if not isinstance(name, str):
            problems.append(f"{where}: not an instance type name: {name!r}")
            continue
        members: list[str] = []
        for family in families_of_entry(name):
            if family in catalog.types:
                members.append(family)
            elif family in families:
                members.extend(m for m in families[family] if m not in explicit or m == name)
        if not members and name not in explicit:
            problems.append(f"{where}: {name!r} is not an instance type or family in the price table")
        for member in members:
            chosen.setdefault(member, catalog.types[member])
            ranks.setdefault(member, rank)
    specs = sorted(chosen.values(), key=lambda s: (s.family, s.vcpus, s.instance_type))
    return specs, ranks


def _parse_ce(body: Any, index: int, catalog: Catalog, problems: list[str]) -> ComputeEnvironment | None:
    where = f"computeEnvironments[{index}]"
    if not isinstance(body, dict):
        problems.append(f"{where}: expected a CreateComputeEnvironment request object")
        return None
    name = body.get("computeEnvironmentName")
    if not isinstance(name, str) or not name:
        problems.append(f"{where}.computeEnvironmentName: required")
        return None
    where = f"computeEnvironments[{index}] ({name})"
    _refuse_unknown_keys(
        body,
        where,
        problems,
        "CreateComputeEnvironment or DescribeComputeEnvironments",
        "createComputeEnvironment",
        "ComputeEnvironmentDetail",
    )
    if body.get("type", "MANAGED") != "MANAGED":
        problems.append(f"{where}.type: only MANAGED compute environments can be replayed")
        return None
    res = body.get("computeResources")
    if not isinstance(res, dict):
        problems.append(f"{where}.computeResources: required for a MANAGED compute environment")
        return None
    _refuse_unknown_keys(res, f"{where}.computeResources", problems, "ComputeResource", "ComputeResource")
    kind = res.get("type")
    if kind not in EC2_KINDS + FARGATE_KINDS:
        detail = " (the replay has no model of it yet)" if kind in CE_TYPES else ""
        problems.append(
            f"{where}.computeResources.type: {kind!r} cannot be replayed{detail}; "
            "EC2, SPOT, FARGATE or FARGATE_SPOT can"
        )
        return None
    max_vcpus = _number(res.get("maxvCpus"), f"{where}.computeResources.maxvCpus", problems)
    min_vcpus = _number(res.get("minvCpus"), f"{where}.computeResources.minvCpus", problems, default=0.0)
    desired = _number(
        res.get("desiredvCpus"), f"{where}.computeResources.desiredvCpus", problems, default=min_vcpus
    )
    if not min_vcpus <= desired <= max_vcpus:
        problems.append(f"{where}.computeResources: need minvCpus <= desiredvCpus <= maxvCpus")
    strategy = res.get("allocationStrategy") or "BEST_FIT"
    types: list[InstanceSpec] = []
    ranks: dict[str, int] = {}
    ordered = False
    if kind in FARGATE_KINDS:
        if res.get("instanceTypes"):
            problems.append(f"{where}.computeResources.instanceTypes: not allowed for {kind}")
        min_vcpus = desired = 0.0  # Fargate has no idle capacity to keep
    else:
        try:
            ordered = allocation_strategy(
                strategy, kind, f"{where}.computeResources.allocationStrategy"
            ).ordered
        except ConfigError as exc:
            problems.append(str(exc))
        names = res.get("instanceTypes")
        if not isinstance(names, list) or not names:
            problems.append(f"{where}.computeResources.instanceTypes: required for {kind}")
            names = []
        types, ranks = _expand_types(names, catalog, f"{where}.computeResources.instanceTypes", problems)
        if kind == "SPOT" and types:
            bid = _number(
                res.get("bidPercentage"), f"{where}.computeResources.bidPercentage", problems, default=100.0
            )
            no_spot = [t.instance_type for t in types if t.spot_price is None]
            types = [t for t in types if t.spot_price is not None]
            # bidPercentage caps the spot price at that share of the on-demand price.
            types = [t for t in types if t.spot_price <= t.ondemand_price * bid / 100.0 + 1e-12]  # type: ignore[operator]
            if not types:
                detail = f" (no spot price for {', '.join(no_spot[:5])})" if no_spot else ""
                problems.append(f"{where}: no instance type has a spot price within bidPercentage{detail}")
    return ComputeEnvironment(
        name=name,
        kind=kind,
        allocation_strategy=strategy if kind in EC2_KINDS else kind,
        min_vcpus=min_vcpus,
        max_vcpus=max_vcpus,
        desired_vcpus=desired,
        instance_types=tuple(types),
        enabled=_state(body, where, problems, "CEState"),
        priorities={t.instance_type: ranks[t.instance_type] for t in types} if ordered else {},
    )


def _parse_queue(
    body: Any,
    index: int,
    ces: dict[str, ComputeEnvironment],
    problems: list[str],
    policies: dict[str, SchedulingPolicy] | None = None,
) -> JobQueue | None:
    where = f"jobQueues[{index}]"
    if not isinstance(body, dict):
        problems.append(f"{where}: expected a CreateJobQueue request object")
        return None
    name = body.get("jobQueueName")
    if not isinstance(name, str) or not name:
        problems.append(f"{where}.jobQueueName: required")
        return None
    where = f"jobQueues[{index}] ({name})"
    _refuse_unknown_keys(
        body, where, problems, "CreateJobQueue or DescribeJobQueues", "createJobQueue", "JobQueueDetail"
    )
    priority = body.get("priority", 1)
    if isinstance(priority, bool) or not isinstance(priority, int):
        problems.append(f"{where}.priority: must be an integer")
        priority = 1
    order = body.get("computeEnvironmentOrder")
    if not isinstance(order, list) or not order:
        problems.append(f"{where}.computeEnvironmentOrder: required, 1 to 3 compute environments")
        return None
    entries: list[tuple[int, str]] = []
    for k, entry in enumerate(order):
        ref = entry.get("computeEnvironment") if isinstance(entry, dict) else None
        rank = entry.get("order", k) if isinstance(entry, dict) else k
        if not isinstance(ref, str) or _name_from_ref(ref) not in ces:
            problems.append(f"{where}.computeEnvironmentOrder[{k}]: unknown compute environment {ref!r}")
            continue
        entries.append((int(rank), _name_from_ref(ref)))
    names = tuple(n for _, n in sorted(entries))
    kinds = {ces[n].is_fargate for n in names}
    if len(kinds) > 1:
        problems.append(f"{where}: Batch does not allow EC2 and Fargate compute environments in one queue")
    try:
        limits = state_limits_from_api(
            body.get("jobStateTimeLimitActions"), f"{where}.jobStateTimeLimitActions"
        )
    except ConfigError as exc:
        problems.append(str(exc))
        limits = ()
    policy = None
    ref = body.get("schedulingPolicyArn")
    if ref is not None:
        policy = (policies or {}).get(_name_from_ref(ref)) if isinstance(ref, str) else None
        if policy is None:
            known = ", ".join(sorted(policies or {})) or "none"
            problems.append(
                f"{where}.schedulingPolicyArn: {ref!r} names no entry of schedulingPolicies (known: {known})"
            )
    return JobQueue(
        name=name,
        priority=priority,
        compute_environments=names,
        enabled=_state(body, where, problems, "JQState"),
        state_time_limits=limits,
        scheduling_policy=policy,
    )


def _parse_options(data: Any, problems: list[str]) -> SimulationOptions:
    if data is None:
        return SimulationOptions()
    if not isinstance(data, dict):
        problems.append("simulation: expected an object")
        return SimulationOptions()
    known = {
        "seed",
        "launchDelaySeconds",
        "scaleInIdleSeconds",
        "fargateStartDelaySeconds",
        "defaultRetryStrategy",
        "defaultTimeout",
        "jobDefinitionRevisions",
        "billUntilSeconds",
        "capacityShortages",
        "blockedJobCancelSeconds",
    }
    for key in sorted(set(data) - known):
        problems.append(f"simulation.{key}: unknown setting (known: {', '.join(sorted(known))})")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        problems.append("simulation.seed: must be an integer")
        seed = 0
    defaults = SimulationOptions()
    try:
        retry = RetryStrategy.from_api(data.get("defaultRetryStrategy"), "simulation.defaultRetryStrategy")
    except ConfigError as exc:
        problems.append(str(exc))
        retry = RetryStrategy()
    try:
        timeout = attempt_duration_from_api(data.get("defaultTimeout"), "simulation.defaultTimeout")
    except ConfigError as exc:
        problems.append(str(exc))
        timeout = float("inf")
    try:
        revisions = revisions_from_api(data.get("jobDefinitionRevisions"))
    except ConfigError as exc:
        problems.append(str(exc))
        revisions = {}
    try:
        shortages = shortages_from_api(data.get("capacityShortages"))
    except ConfigError as exc:
        problems.append(str(exc))
        shortages = ()
    return SimulationOptions(
        seed=seed,
        launch_delay_s=_number(
            data.get("launchDelaySeconds"),
            "simulation.launchDelaySeconds",
            problems,
            default=defaults.launch_delay_s,
        ),
        scale_in_idle_s=_number(
            data.get("scaleInIdleSeconds"),
            "simulation.scaleInIdleSeconds",
            problems,
            default=defaults.scale_in_idle_s,
        ),
        fargate_start_delay_s=_number(
            data.get("fargateStartDelaySeconds"),
            "simulation.fargateStartDelaySeconds",
            problems,
            default=defaults.fargate_start_delay_s,
        ),
        default_retry_strategy=retry,
        default_attempt_duration_s=timeout,
        job_definition_revisions=revisions,
        bill_until_s=_number(
            data.get("billUntilSeconds"), "simulation.billUntilSeconds", problems, default=0.0
        ),
        capacity_shortages=shortages,
        blocked_job_cancel_s=_number(
            data.get("blockedJobCancelSeconds"), "simulation.blockedJobCancelSeconds", problems, default=0.0
        ),
    )


def parse_config(document: Any, catalog: Catalog, *, source: str = "config") -> ReplayConfig:
    """Parse `{"computeEnvironments": [...], "jobQueues": [...], "simulation": {...}?}`.

    Every problem is collected and reported at once (one line each, naming the field), so a user
    fixes a configuration in one pass.
    """
    problems: list[str] = []
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: expected a JSON object with computeEnvironments and jobQueues")
    unknown = sorted(set(document) - {"computeEnvironments", "jobQueues", "schedulingPolicies", "simulation"})
    problems += [f"{key}: unknown top-level key" for key in unknown]
    ce_bodies = document.get("computeEnvironments")
    queue_bodies = document.get("jobQueues")
    if not isinstance(ce_bodies, list) or not ce_bodies:
        raise ConfigError(f"{source}: computeEnvironments: required, a non-empty list")
    if not isinstance(queue_bodies, list) or not queue_bodies:
        raise ConfigError(f"{source}: jobQueues: required, a non-empty list")
    ces: dict[str, ComputeEnvironment] = {}
    for index, body in enumerate(ce_bodies):
        ce = _parse_ce(body, index, catalog, problems)
        if ce is not None:
            if ce.name in ces:
                problems.append(f"computeEnvironments[{index}]: duplicate name {ce.name!r}")
            ces[ce.name] = ce
    try:
        policies = policies_from_api(document.get("schedulingPolicies"))
    except ConfigError as exc:
        problems.append(str(exc))
        policies = {}
    queues: list[JobQueue] = []
    for index, body in enumerate(queue_bodies):
        queue = _parse_queue(body, index, ces, problems, policies)
        if queue is not None:
            if any(q.name == queue.name for q in queues):
                problems.append(f"jobQueues[{index}]: duplicate name {queue.name!r}")
            queues.append(queue)
    options = _parse_options(document.get("simulation"), problems)
    if problems:
        raise ConfigError("\n".join(f"{source}: {p}" for p in problems))
    return ReplayConfig(
        compute_environments=tuple(ces.values()),
        queues=tuple(queues),
        options=options,
        fargate=catalog.fargate,
    )


def refuse_all_disabled(config: ReplayConfig, source: str) -> None:
    """A configuration a person gives (`simulate --config`) whose queues are all DISABLED: Batch
    runs no new job from a disabled queue, so there is nothing to replay the history on. (The
    replay of the estate itself runs such queues as they ran: their jobs are the history.)"""
    if not any(q.enabled for q in config.queues):
        raise ConfigError(f"{source}: jobQueues: every queue is DISABLED: the history has no queue to run on")
