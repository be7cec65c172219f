"""Solves call the compiled kernels only with the argument types `warm_up` compiles: writable,
C-ordered arrays.

Numba compiles one machine-code version per argument type, and an array's layout and
writability are part of its type. `warm_up` runs at install time to fill the on-disk cache, so
any other version is compiled inside the first timed solve that meets it:
- a read-only broadcast view (`np.ascontiguousarray` hands it back unchanged when one offering is
  priced) cost the LP's pricing 4.1 s of CPU out of a 10 s limit;
- Fortran-ordered arrays (`np.array` and `astype` keep the strides of a column view or a
  transposed demand) cost the first demo queue's commitment-blind solve its 1.5 s share several
  times over, leaving the committed solve one multiplier round and a 33 % gap where the same
  problem solved afterwards reads 14 %.
"""

from __future__ import annotations

from dataclasses import replace

from numba import types
from numba.core.registry import CPUDispatcher

from optimizer.solver import class_partition, search_kernels, subset_kernels
from optimizer.solver.columns import prepare
from optimizer.solver.problem import Policy
from optimizer.solver.search_kernels import warm_up
from optimizer.solver.subset_search import QuickPlan
from tests.solver_helpers import random_problem, run

README_POLICY = Policy(
    max_instance_types=4, min_spot_instance_types=2, max_spot_share=0.8, time_limit_seconds=2
)


def _kernels() -> dict[str, CPUDispatcher]:
    return {
        f"{module.__name__}.{name}": value
        for module in (search_kernels, subset_kernels, class_partition)
        for name, value in vars(module).items()
        if isinstance(value, CPUDispatcher)
    }


def _other_signatures() -> list[str]:
    """Every compiled version with an array argument that is not writable and C-ordered."""
    return [
        f"{name}{signature}"
        for name, kernel in _kernels().items()
        for signature in kernel.signatures
        if any(isinstance(arg, types.Array) and (not arg.mutable or arg.layout != "C") for arg in signature)
    ]


def test_solves_use_only_writable_c_ordered_arrays() -> None:
    warm_up()
    assert not _other_signatures()
    for seed in range(2):
        run(random_problem(seed, n_buckets=6))
        # The subsets' quick plan (its demand per bucket class is a transpose, Fortran-ordered).
        problem = random_problem(seed, n_buckets=24, policy=README_POLICY)
        QuickPlan(prepare(problem, list(problem.offerings))).run([0, 1, 2, 3])
        # The type cap's subset search and its swaps (the quick plan kernel) and the LP's pricing
        # of several candidates at once for one bucket class (a column of the values).
        run(random_problem(seed, n_buckets=24, policy=README_POLICY))
        run(random_problem(seed, n_buckets=24, policy=replace(README_POLICY, max_instance_types=None)))
    assert not _other_signatures()
