"""Apply the policy's instance requirements to a problem's offerings before anything is solved.

Offerings whose type the requirements exclude are dropped; accelerated types that the requirements
keep for accelerator jobs only are marked `hosts_cpu_jobs = False`, so `Offering.can_host` (and
through it pruning, pricing, repair and every heuristic) never packs a CPU-only job onto them. The
validator checks the same rule from `optimizer.catalog.requirements` independently.
"""

from __future__ import annotations

from dataclasses import replace

from optimizer.solver.problem import Problem


def restrict_to_requirements(problem: Problem) -> Problem:
    """The problem with only the offerings its policy's instance requirements allow."""
    req = problem.policy.instance_requirements
    kept = []
    for offering in problem.offerings:
        if not req.allows_type(offering.instance_type, offering.gpus):
            continue
        cpu_jobs = req.hosts_cpu_jobs_on(offering.instance_type, offering.gpus)
        kept.append(
            offering if cpu_jobs == offering.hosts_cpu_jobs else replace(offering, hosts_cpu_jobs=cpu_jobs)
        )
    if len(kept) == len(problem.offerings) and all(
        a is b for a, b in zip(kept, problem.offerings, strict=True)
    ):
        return problem
    return problem.with_offerings(kept)
