"""Apply the policy's instance requirements to a problem's offerings before anything is solved.

Offerings whose type the requirements exclude are dropped; accelerated types that the requirements
keep for accelerator jobs only are marked `hosts_cpu_jobs = False`, so `Offering.can_host` (and
through it pruning, pricing, repair and every heuristic) never packs a CPU-only job onto them. Gang
shapes take the requirements' network needs (`gang_efa`, `gang_min_network_gbps`) on top of their
own, so `can_host` keeps them off types without EFA or bandwidth the same way. The validator checks
the same rules from `optimizer.catalog.requirements` independently.
"""

from __future__ import annotations

from dataclasses import replace

from optimizer.catalog.requirements import InstanceRequirements
from optimizer.solver.problem import Problem, Shape


def restrict_to_requirements(problem: Problem) -> Problem:
    """The problem with only the offerings its policy's instance requirements allow, and its gangs
    asking for the network the requirements state."""
    req = problem.policy.instance_requirements
    kept = []
    for offering in problem.offerings:
        if not req.allows_type(offering.instance_type, offering.gpus):
            continue
        cpu_jobs = req.hosts_cpu_jobs_on(offering.instance_type, offering.gpus)
        kept.append(
            offering if cpu_jobs == offering.hosts_cpu_jobs else replace(offering, hosts_cpu_jobs=cpu_jobs)
        )
    shapes = tuple(_with_gang_needs(shape, req) for shape in problem.shapes)
    same_offerings = len(kept) == len(problem.offerings) and all(
        a is b for a, b in zip(kept, problem.offerings, strict=True)
    )
    same_shapes = all(a is b for a, b in zip(shapes, problem.shapes, strict=True))
    if same_offerings and same_shapes:
        return problem
    return replace(problem, shapes=shapes, offerings=tuple(kept))


def _with_gang_needs(shape: Shape, req: InstanceRequirements) -> Shape:
    """A gang shape with the requirements' network needs added to its own; other shapes as they are."""
    if not shape.is_gang:
        return shape
    efa, gbps = req.gang_needs(shape.efa, shape.min_network_gbps)
    if (efa, gbps) == (shape.efa, shape.min_network_gbps):
        return shape
    return replace(shape, efa=efa, min_network_gbps=gbps)
