"""`batchopt.problem/v1`: the fleet-mix problem as typed records, and its JSON form.

The document is the only input of the solver, so it is checked field by field on load: a wrong value
is reported with its JSON path (`offerings[3].price_per_hour: must be >= 0`) instead of surfacing as
a numpy error deep in the model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from optimizer.catalog.requirements import requirements_from_dict
from optimizer.errors import InputError
from optimizer.solver.policy import Policy, policy_to_dict

PROBLEM_SCHEMA = "batchopt.problem/v1"
CAPACITY_TYPES = ("SPOT", "ON_DEMAND")
ARCHES = ("x86_64", "arm64")
#: Slack on capacity comparisons: catalogue vCPUs and MiB are integers, shapes may be fractional.
FIT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Shape:
    """A class of jobs with identical (rounded-up) requests; `arch=None` runs on either architecture.

    With `nodes` set the shape is one node range of a multi-node parallel (MNP) job, a gang: its
    demand counts MNP jobs running, and each needs `nodes` instances of one on-demand offering, one
    node per instance and nothing else on them (`optimizer.solver.gangs`). Node ranges of one MNP
    job share a `gang` id (default: the shape's own). `min_network_gbps` and `efa` are what the host
    must offer (a tightly coupled MPI code asks for bandwidth, or for the Elastic Fabric Adapter);
    `instance_types`, a node range's own `instanceTypes`, the only types its nodes may run on.
    """

    id: str
    vcpus: float
    memory_mib: float
    gpus: int = 0
    arch: str | None = None
    spot_ok: bool = True
    nodes: int | None = None
    gang: str | None = None
    min_network_gbps: float = 0.0
    efa: bool = False
    #: A node range's `instanceTypes` (Batch's `NodeRangeProperty`): its nodes run only on these.
    instance_types: tuple[str, ...] | None = None

    @property
    def is_gang(self) -> bool:
        return self.nodes is not None

    @property
    def instances_per_job(self) -> int:
        """Instances one job of the shape holds: its nodes for a gang, else a share of one (1)."""
        return self.nodes if self.nodes is not None else 1

    @property
    def gang_id(self) -> str:
        return self.gang or self.id


@dataclass(frozen=True)
class Offering:
    """One instance type bought one way; `memory_mib` is what jobs can allocate, not the nominal size.

    `interruption_rate` is the probability per instance-hour that a spot instance is reclaimed.
    """

    instance_type: str
    capacity_type: str
    vcpus: float
    memory_mib: float
    gpus: int
    arch: str
    price_per_hour: float
    interruption_rate: float = 0.0
    #: Network bandwidth in Gbit/s (None: unknown, which meets no bandwidth requirement).
    network_gbps: float | None = None
    #: Supports the Elastic Fabric Adapter.
    efa: bool = False
    #: False for an accelerated type the policy's instance requirements keep for accelerator jobs;
    #: derived from the policy by `optimizer.solver.requirements`, never read from a document.
    hosts_cpu_jobs: bool = True

    @property
    def key(self) -> str:
        return f"{self.instance_type}/{self.capacity_type}"

    @property
    def is_spot(self) -> bool:
        return self.capacity_type == "SPOT"

    def hourly_objective(self, interruption_cost_factor: float) -> float:
        """Price plus the expected re-run cost per hour (spot only)."""
        if not self.is_spot:
            return self.price_per_hour
        return self.price_per_hour * (1.0 + self.interruption_rate * interruption_cost_factor)

    def can_host(self, shape: Shape) -> bool:
        return (
            shape.vcpus <= self.vcpus + FIT_TOLERANCE
            and shape.memory_mib <= self.memory_mib + FIT_TOLERANCE
            and shape.gpus <= self.gpus
            and (shape.arch is None or shape.arch == self.arch)
            and ((shape.spot_ok and not shape.is_gang) or not self.is_spot)
            and (shape.gpus > 0 or self.hosts_cpu_jobs)
            and (shape.min_network_gbps <= 0.0 or (self.network_gbps or 0.0) >= shape.min_network_gbps)
            and (self.efa or not shape.efa)
            and (shape.instance_types is None or self.instance_type in shape.instance_types)
        )


COMMITMENT_TYPES = ("COMPUTE_SAVINGS_PLAN", "EC2_INSTANCE_SAVINGS_PLAN", "RESERVED_INSTANCE")


@dataclass(frozen=True)
class Commitment:
    """A Savings Plan or Reserved Instances the organisation already pays for, whatever it uses.

    Savings Plans: `usd_per_hour` (C) is paid every hour; in each bucket, on-demand usage of a type
    in `rates` is billed at its plan rate out of C until the rates consumed reach C (beyond that at
    the on-demand price). An EC2 Instance Savings Plan lists only types of its `family`. Reserved
    Instances: `count` instances of `instance_type` run at no extra cost in every bucket (the fee is
    sunk and not part of the document). Spot usage is never covered.
    """

    id: str
    type: str
    usd_per_hour: float = 0.0
    rates: Mapping[str, float] = field(default_factory=dict)
    family: str | None = None
    instance_type: str | None = None
    count: int = 0

    @property
    def is_reserved(self) -> bool:
        return self.type == "RESERVED_INSTANCE"

    @property
    def capacity_per_hour(self) -> float:
        """What one hour of the commitment can absorb: USD of plan rates, or reserved instances."""
        return float(self.count) if self.is_reserved else self.usd_per_hour

    @property
    def fee_per_hour(self) -> float:
        """Paid every hour whatever is used (0 for Reserved Instances: their fee is sunk)."""
        return 0.0 if self.is_reserved else self.usd_per_hour

    def use_per_instance_hour(self, offering: Offering) -> float | None:
        """Capacity one covered instance-hour of `offering` consumes; None when it is not covered."""
        if offering.is_spot:
            return None
        if self.is_reserved:
            return 1.0 if offering.instance_type == self.instance_type else None
        return self.rates.get(offering.instance_type)


@dataclass(frozen=True)
class Problem:
    """The fleet-mix problem.

    `gang_hours` (gang shape id -> float64 array, one value per bucket) says how many hours that
    shape's gang jobs really run in each bucket, summed over its jobs: a 20-minute MNP job in a
    bucket adds 1/3 h while its demand adds 1. A gang holds its nodes for those hours only, so they,
    not whole buckets, are what its nodes are paid for (`gang_job_hours`). A gang shape without an
    entry holds its nodes for every whole bucket it runs in (demand x bucket hours), which is what a
    document without the field means.
    """

    bucket_seconds: float
    shapes: tuple[Shape, ...]
    demand: np.ndarray  # int64, shape (len(shapes), n_buckets)
    offerings: tuple[Offering, ...]
    policy: Policy = field(default_factory=Policy)
    commitments: tuple[Commitment, ...] = ()
    gang_hours: Mapping[str, np.ndarray] = field(default_factory=dict)
    #: What the builder left out of `demand` and why, one sentence each (jobs no instance type the
    #: policy allows can host: `optimizer.fleet.plans`); carried with the document so that every
    #: reader of a plan of this problem is told that its cost does not include them.
    left_out: tuple[str, ...] = ()

    @property
    def n_buckets(self) -> int:
        return int(self.demand.shape[1])

    @property
    def bucket_hours(self) -> float:
        return self.bucket_seconds / 3600.0

    @property
    def commitment_fees_usd(self) -> float:
        """Every commitment's fee for every bucket: paid whatever the plan uses, so it is in every
        plan's cost and in every bound."""
        return sum(c.fee_per_hour for c in self.commitments) * self.n_buckets * self.bucket_hours

    def gang_job_hours(self, i: int) -> np.ndarray:
        """Per bucket, the hours gang shape `i`'s jobs hold their nodes, summed over its jobs: the
        problem's `gang_hours` when it has them, else demand x bucket hours (whole buckets)."""
        given = self.gang_hours.get(self.shapes[i].id)
        if given is not None:
            return given
        return self.demand[i].astype(float) * self.bucket_hours

    def shape_sizes(self) -> np.ndarray:
        """(S, 3) each shape's vCPUs, memory (MiB) and GPUs, the order `Offering` capacities use."""
        return np.array([[s.vcpus, s.memory_mib, s.gpus] for s in self.shapes], dtype=float)

    def commitment_uses(self, offerings: Sequence[Offering]) -> np.ndarray:
        """(len(offerings), C) capacity one instance-hour of each offering consumes of each
        commitment (`Commitment.use_per_instance_hour`), +inf where it is not covered: the dominance
        checks and the partition bound compare and price coverage from it."""
        out = np.full((len(offerings), len(self.commitments)), np.inf)
        for i, o in enumerate(offerings):
            for k, c in enumerate(self.commitments):
                use = c.use_per_instance_hour(o)
                if use is not None:
                    out[i, k] = use
        return out

    def job_vcpu_hours(self) -> np.ndarray:
        """Per shape, the job vCPU-hours its demand runs, what the spot share is measured on: a
        packed shape's demand x bucket hours (what the plan holds for it), a gang's job hours
        (`gang_job_hours`: the hours it is paid for) x every node's vCPUs. A gang never runs on
        spot, so it is only ever in the share's denominator: counting it by whole buckets while it
        holds part of one would add vCPU-hours nobody runs or pays for and loosen the cap on the
        packed jobs' spot capacity."""
        out = np.empty(len(self.shapes), dtype=float)
        for i, s in enumerate(self.shapes):
            hours = (
                float(self.gang_job_hours(i).sum())
                if s.is_gang
                else float(self.demand[i].sum()) * self.bucket_hours
            )
            out[i] = hours * s.vcpus * s.instances_per_job
        return out

    def with_policy(self, policy: Policy) -> Problem:
        return replace(self, policy=policy)

    def with_offerings(self, offerings: Sequence[Offering]) -> Problem:
        return replace(self, offerings=tuple(offerings))

    def with_commitments(self, commitments: Sequence[Commitment]) -> Problem:
        return replace(self, commitments=tuple(commitments))

    def with_shapes(self, keep: Sequence[int]) -> Problem:
        """The problem restricted to the shapes at indices `keep` (demand rows and gang hours follow)."""
        shapes = tuple(self.shapes[i] for i in keep)
        ids = {s.id for s in shapes}
        return replace(
            self,
            shapes=shapes,
            demand=self.demand[list(keep)],
            gang_hours={k: v for k, v in self.gang_hours.items() if k in ids},
        )

    def with_buckets(self, buckets: np.ndarray) -> Problem:
        """The problem over the buckets at indices `buckets` only (demand and gang hours follow)."""
        return replace(
            self,
            demand=self.demand[:, buckets],
            gang_hours={k: v[buckets] for k, v in self.gang_hours.items()},
        )


# ---------------------------------------------------------------------------------------------------
# JSON <-> records


class _Reader:
    """Typed access to one JSON object that names the offending path in every error."""

    def __init__(self, source: str, path: str, obj: Any) -> None:
        if not isinstance(obj, Mapping):
            raise InputError(f"{source}: {path or 'document'}: must be an object")
        self.source, self.path, self.obj = source, path, obj

    def where(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def only(self, known: Sequence[str]) -> None:
        """Refuse a key this reader does not know: silently ignoring it would solve another problem."""
        unknown = sorted(set(self.obj) - set(known))
        if unknown:
            raise self.fail(unknown[0], f"unknown key (known: {', '.join(known)})")

    def fail(self, name: str, message: str) -> InputError:
        return InputError(f"{self.source}: {self.where(name)}: {message}")

    def has(self, name: str) -> bool:
        return self.obj.get(name) is not None

    def raw(self, name: str) -> Any:
        if name not in self.obj:
            raise self.fail(name, "is required")
        return self.obj[name]

    def number(
        self,
        name: str,
        *,
        minimum: float | None = None,
        above: float | None = None,
        maximum: float | None = None,
        default: float | None = None,
    ) -> float:
        if default is not None and not self.has(name):
            return default
        value = self.raw(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(name, "must be a finite number")
        if minimum is not None and value < minimum:
            raise self.fail(name, f"must be >= {minimum:g}")
        if above is not None and value <= above:
            raise self.fail(name, f"must be > {above:g}")
        if maximum is not None and value > maximum:
            raise self.fail(name, f"must be <= {maximum:g}")
        return float(value)

    def integer(self, name: str, *, minimum: int = 0, default: int | None = None) -> int:
        if default is not None and not self.has(name):
            return default
        value = self.raw(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise self.fail(name, "must be an integer")
        if value < minimum:
            raise self.fail(name, f"must be >= {minimum}")
        return int(value)

    def text(self, name: str, *, choices: Sequence[str] | None = None, optional: bool = False) -> str | None:
        if optional and not self.has(name):
            return None
        value = self.raw(name)
        if not isinstance(value, str) or not value:
            raise self.fail(name, "must be a non-empty string")
        if choices is not None and value not in choices:
            raise self.fail(name, f"must be one of {', '.join(choices)}")
        return value

    def boolean(self, name: str, *, default: bool) -> bool:
        if not self.has(name):
            return default
        value = self.obj[name]
        if not isinstance(value, bool):
            raise self.fail(name, "must be true or false")
        return value

    def array(self, name: str) -> list[Any]:
        value = self.raw(name)
        if not isinstance(value, list):
            raise self.fail(name, "must be an array")
        return value


POLICY_KEYS = tuple(policy_to_dict(Policy()))
SHAPE_KEYS = ("id", "vcpus", "memory_mib", "gpus", "arch", "spot_ok", "nodes", "gang", "min_network_gbps",
              "efa", "instance_types")  # fmt: skip
OFFERING_KEYS = ("instance_type", "capacity_type", "vcpus", "memory_mib", "gpus", "arch", "price_per_hour",
                 "interruption_rate", "network_gbps", "efa")  # fmt: skip
#: Why a gang never runs on spot: "Multi-node parallel jobs aren't supported on compute environments
#: that use Spot Instances" (AWS Batch user guide, compute environment considerations for MNP).
GANG_SPOT_REASON = "Batch runs multi-node parallel jobs only on on-demand compute environments"
PROBLEM_KEYS = ("schema", "bucket_seconds", "buckets", "shapes", "demand", "offerings", "policy",
                "commitments", "gang_hours", "left_out")  # fmt: skip
#: Slack, in hours, on `gang_hours[t] <= demand[t] x bucket hours` (a builder's float sums).
GANG_HOURS_TOLERANCE = 1e-9
COMMITMENT_KEYS = {
    "COMPUTE_SAVINGS_PLAN": ("id", "type", "usd_per_hour", "rates"),
    "EC2_INSTANCE_SAVINGS_PLAN": ("id", "type", "family", "usd_per_hour", "rates"),
    "RESERVED_INSTANCE": ("id", "type", "instance_type", "count"),
}


def policy_from_dict(data: Any, source: str = "policy", path: str = "policy") -> Policy:
    r = _Reader(source, path, data)
    r.only(POLICY_KEYS)
    max_types = r.integer("max_instance_types", minimum=1) if r.has("max_instance_types") else None
    share = r.number("max_spot_share", minimum=0.0, maximum=1.0) if r.has("max_spot_share") else None
    return Policy(
        max_instance_types=max_types,
        min_spot_instance_types=r.integer("min_spot_instance_types", minimum=0, default=0),
        max_spot_share=share,
        interruption_cost_factor=r.number("interruption_cost_factor", minimum=0.0, default=1.0),
        time_limit_seconds=r.number("time_limit_seconds", above=0.0, default=30.0),
        gap_target=r.number("gap_target", minimum=0.0, maximum=1.0, default=0.005),
        instance_requirements=requirements_from_dict(
            r.raw("instance_requirements") if r.has("instance_requirements") else None,
            f"{source}: {r.where('instance_requirements')}",
        ),
    )


def _shape_from_dict(source: str, index: int, data: Any) -> Shape:
    r = _Reader(source, f"shapes[{index}]", data)
    r.only(SHAPE_KEYS)
    nodes = r.integer("nodes", minimum=1) if r.has("nodes") else None
    gang = r.text("gang", optional=True)
    if gang is not None and nodes is None:
        raise r.fail("gang", "needs nodes (only a node range of a multi-node parallel job has a gang)")
    instance_types = _instance_types(r) if r.has("instance_types") else None
    if instance_types is not None and nodes is None:
        raise r.fail(
            "instance_types", "needs nodes (only a node range of a multi-node parallel job names types)"
        )
    spot_ok = r.boolean("spot_ok", default=nodes is None)
    if nodes is not None and spot_ok:
        raise r.fail("spot_ok", f"must be false for a gang ({GANG_SPOT_REASON})")
    return Shape(
        id=str(r.text("id")),
        vcpus=r.number("vcpus", above=0.0),
        memory_mib=r.number("memory_mib", above=0.0),
        gpus=r.integer("gpus", default=0),
        arch=r.text("arch", choices=ARCHES, optional=True),
        spot_ok=spot_ok,
        nodes=nodes,
        gang=gang,
        min_network_gbps=r.number("min_network_gbps", minimum=0.0, default=0.0),
        efa=r.boolean("efa", default=False),
        instance_types=instance_types,
    )


def _instance_types(r: _Reader) -> tuple[str, ...]:
    value = r.raw("instance_types")
    if not isinstance(value, list) or not value or not all(isinstance(t, str) and t for t in value):
        raise r.fail("instance_types", "must be a non-empty array of instance type names")
    return tuple(value)


def _offering_from_dict(source: str, index: int, data: Any) -> Offering:
    r = _Reader(source, f"offerings[{index}]", data)
    r.only(OFFERING_KEYS)
    return Offering(
        instance_type=str(r.text("instance_type")),
        capacity_type=str(r.text("capacity_type", choices=CAPACITY_TYPES)),
        vcpus=r.number("vcpus", above=0.0),
        memory_mib=r.number("memory_mib", above=0.0),
        gpus=r.integer("gpus", default=0),
        arch=str(r.text("arch", choices=ARCHES)),
        price_per_hour=r.number("price_per_hour", minimum=0.0),
        interruption_rate=r.number("interruption_rate", minimum=0.0, maximum=1.0, default=0.0),
        network_gbps=r.number("network_gbps", minimum=0.0) if r.has("network_gbps") else None,
        efa=r.boolean("efa", default=False),
    )


def commitment_from_dict(data: Any, source: str, path: str) -> Commitment:
    """One entry of `commitments`; keys are checked against the entry's own type."""
    r = _Reader(source, path, data)
    kind = str(r.text("type", choices=COMMITMENT_TYPES))
    r.only(COMMITMENT_KEYS[kind])
    ident = str(r.text("id"))
    if kind == "RESERVED_INSTANCE":
        return Commitment(
            id=ident,
            type=kind,
            instance_type=str(r.text("instance_type")),
            count=r.integer("count", minimum=1),
        )
    family = str(r.text("family")) if kind == "EC2_INSTANCE_SAVINGS_PLAN" else None
    usd_per_hour = r.number("usd_per_hour", above=0.0)
    raw_rates = r.raw("rates")
    if not isinstance(raw_rates, Mapping) or not raw_rates:
        raise r.fail("rates", "must be a non-empty object mapping instance type to USD per hour")
    rates_reader = _Reader(source, r.where("rates"), raw_rates)
    rates: dict[str, float] = {}
    for instance_type in raw_rates:
        if not isinstance(instance_type, str) or "." not in instance_type:
            raise rates_reader.fail(str(instance_type), "must be an instance type such as m6i.large")
        if family is not None and instance_type.split(".", 1)[0] != family:
            raise rates_reader.fail(instance_type, f"not in the plan's family {family!r}")
        rates[instance_type] = rates_reader.number(instance_type, above=0.0)
    return Commitment(id=ident, type=kind, usd_per_hour=usd_per_hour, rates=rates, family=family)


def commitments_from_list(data: Any, source: str, path: str = "commitments") -> tuple[Commitment, ...]:
    if not isinstance(data, list):
        raise InputError(f"{source}: {path}: must be an array")
    out = tuple(commitment_from_dict(c, source, f"{path}[{i}]") for i, c in enumerate(data))
    seen: set[str] = set()
    for i, c in enumerate(out):
        if c.id in seen:
            raise InputError(f"{source}: {path}[{i}].id: duplicate commitment id {c.id!r}")
        seen.add(c.id)
    return out


def commitment_to_dict(c: Commitment) -> dict[str, Any]:
    if c.is_reserved:
        return {"id": c.id, "type": c.type, "instance_type": c.instance_type, "count": c.count}
    out: dict[str, Any] = {"id": c.id, "type": c.type}
    if c.family is not None:
        out["family"] = c.family
    out["usd_per_hour"] = c.usd_per_hour
    out["rates"] = dict(c.rates)
    return out


def problem_from_dict(data: Any, source: str = "problem.json") -> Problem:
    r = _Reader(source, "", data)
    r.only(PROBLEM_KEYS)
    schema = r.raw("schema")
    if schema != PROBLEM_SCHEMA:
        raise r.fail("schema", f"must be {PROBLEM_SCHEMA!r}, got {schema!r}")
    bucket_seconds = r.number("bucket_seconds", above=0.0)
    n_buckets = r.integer("buckets", minimum=1)
    shapes = tuple(_shape_from_dict(source, i, s) for i, s in enumerate(r.array("shapes")))
    seen: set[str] = set()
    for i, shape in enumerate(shapes):
        if shape.id in seen:
            raise InputError(f"{source}: shapes[{i}].id: duplicate shape id {shape.id!r}")
        seen.add(shape.id)
    offerings = tuple(_offering_from_dict(source, i, o) for i, o in enumerate(r.array("offerings")))
    keys: set[str] = set()
    for i, offering in enumerate(offerings):
        if offering.key in keys:
            raise InputError(f"{source}: offerings[{i}]: duplicate offering {offering.key!r}")
        keys.add(offering.key)
    demand_obj = r.raw("demand")
    if not isinstance(demand_obj, Mapping):
        raise r.fail("demand", "must be an object mapping shape id to an array of counts")
    for name in demand_obj:
        if name not in seen:
            raise InputError(f"{source}: demand.{name}: not a shape id")
    demand = np.zeros((len(shapes), n_buckets), dtype=np.int64)
    for i, shape in enumerate(shapes):
        series = demand_obj.get(shape.id)
        if series is None:
            raise InputError(f"{source}: demand.{shape.id}: is required (one count per bucket)")
        if not isinstance(series, list) or len(series) != n_buckets:
            raise InputError(f"{source}: demand.{shape.id}: must be an array of {n_buckets} counts")
        for t, value in enumerate(series):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or value != int(value)
                or value < 0
            ):
                raise InputError(f"{source}: demand.{shape.id}[{t}]: must be an integer >= 0")
        demand[i] = np.asarray(series, dtype=np.int64)
    _check_gangs(source, shapes, demand)
    gang_hours = (
        _gang_hours_from(source, data["gang_hours"], shapes, demand, bucket_seconds / 3600.0)
        if "gang_hours" in data
        else {}
    )
    policy = policy_from_dict(data.get("policy") or {}, source) if "policy" in data else Policy()
    commitments = commitments_from_list(data["commitments"], source) if "commitments" in data else ()
    left_out = r.raw("left_out") if "left_out" in data else []
    if not isinstance(left_out, list) or not all(isinstance(x, str) and x.strip() for x in left_out):
        raise r.fail("left_out", "must be an array of non-empty strings")
    return Problem(
        bucket_seconds, shapes, demand, offerings, policy, commitments, gang_hours, tuple(left_out)
    )


def _gang_hours_from(
    source: str, data: Any, shapes: Sequence[Shape], demand: np.ndarray, bucket_hours: float
) -> dict[str, np.ndarray]:
    """`gang_hours`: gang shape id -> hours its jobs run in each bucket, summed over its jobs.

    Each value is in [0, demand x bucket hours]: `demand` jobs at most run at once, for at most the
    bucket. Node ranges of one MNP job run together, so a gang's ranges carry the same hours, all of
    them or none."""
    if not isinstance(data, Mapping):
        raise InputError(f"{source}: gang_hours: must be an object mapping gang shape id to hours per bucket")
    index = {s.id: i for i, s in enumerate(shapes)}
    out: dict[str, np.ndarray] = {}
    for name, series in data.items():
        where = f"{source}: gang_hours.{name}"
        i = index.get(name)
        if i is None:
            raise InputError(f"{where}: not a shape id")
        if not shapes[i].is_gang:
            raise InputError(f"{where}: shape {name} is not a gang (only a shape with nodes has gang hours)")
        if not isinstance(series, list) or len(series) != demand.shape[1]:
            raise InputError(f"{where}: must be an array of {demand.shape[1]} numbers of hours")
        for t, value in enumerate(series):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InputError(f"{where}[{t}]: must be a finite number of hours")
            if value < 0:
                raise InputError(f"{where}[{t}]: must be >= 0")
            most = float(demand[i, t]) * bucket_hours
            if value > most + GANG_HOURS_TOLERANCE:
                raise InputError(
                    f"{where}[{t}]: {value:g} h is more than demand {int(demand[i, t])} x "
                    f"{bucket_hours:g} h bucket = {most:g} h"
                )
        out[name] = np.asarray(series, dtype=float)
    first: dict[str, int] = {}
    for i, shape in enumerate(shapes):
        if not shape.is_gang:
            continue
        j = first.setdefault(shape.gang_id, i)
        if j == i:
            continue
        mine, theirs = out.get(shape.id), out.get(shapes[j].id)
        if (mine is None) != (theirs is None) or (
            mine is not None and theirs is not None and not np.array_equal(mine, theirs)
        ):
            raise InputError(
                f"{source}: gang_hours.{shape.id}: node ranges of gang {shape.gang_id!r} run together, so "
                f"their gang hours must equal gang_hours.{shapes[j].id} (both given, or neither)"
            )
    return out


def _check_gangs(source: str, shapes: Sequence[Shape], demand: np.ndarray) -> None:
    """Node ranges of one MNP job run together, so their demand series must be the same; a gang id
    must not also be another shape's id (unless it is that range's own)."""
    first: dict[str, int] = {}
    ids = {s.id for s in shapes}
    for i, shape in enumerate(shapes):
        if not shape.is_gang:
            continue
        if shape.gang is not None and shape.gang != shape.id and shape.gang in ids:
            raise InputError(f"{source}: shapes[{i}].gang: {shape.gang!r} is another shape's id")
        j = first.setdefault(shape.gang_id, i)
        if j != i and not np.array_equal(demand[i], demand[j]):
            raise InputError(
                f"{source}: demand.{shape.id}: node ranges of gang {shape.gang_id!r} run together, so "
                f"their demand must equal demand.{shapes[j].id}"
            )


def _shape_to_dict(s: Shape) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": s.id,
        "vcpus": s.vcpus,
        "memory_mib": s.memory_mib,
        "gpus": s.gpus,
        "arch": s.arch,
        "spot_ok": s.spot_ok,
    }
    if s.nodes is not None:
        out["nodes"] = s.nodes
    if s.gang is not None:
        out["gang"] = s.gang
    if s.min_network_gbps > 0.0:
        out["min_network_gbps"] = s.min_network_gbps
    if s.efa:
        out["efa"] = True
    if s.instance_types is not None:
        out["instance_types"] = list(s.instance_types)
    return out


def _offering_to_dict(o: Offering) -> dict[str, Any]:
    out: dict[str, Any] = {
        "instance_type": o.instance_type,
        "capacity_type": o.capacity_type,
        "vcpus": o.vcpus,
        "memory_mib": o.memory_mib,
        "gpus": o.gpus,
        "arch": o.arch,
        "price_per_hour": o.price_per_hour,
        "interruption_rate": o.interruption_rate,
    }
    if o.network_gbps is not None:
        out["network_gbps"] = o.network_gbps
    if o.efa:
        out["efa"] = True
    return out


def problem_to_dict(problem: Problem) -> dict[str, Any]:
    out: dict[str, Any] = {
        "schema": PROBLEM_SCHEMA,
        "bucket_seconds": problem.bucket_seconds,
        "buckets": problem.n_buckets,
        "shapes": [_shape_to_dict(s) for s in problem.shapes],
        "demand": {s.id: problem.demand[i].tolist() for i, s in enumerate(problem.shapes)},
        "offerings": [_offering_to_dict(o) for o in problem.offerings],
        "policy": policy_to_dict(problem.policy),
    }
    if problem.commitments:
        out["commitments"] = [commitment_to_dict(c) for c in problem.commitments]
    if problem.gang_hours:
        out["gang_hours"] = {k: v.tolist() for k, v in problem.gang_hours.items()}
    if problem.left_out:
        out["left_out"] = list(problem.left_out)
    return out


def load_problem(path: str | Path) -> Problem:
    """Read and validate a problem file; every failure is an `InputError` naming file and field."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{p} line {exc.lineno}: not valid JSON: {exc.msg}") from None
    return problem_from_dict(data, p.name)
