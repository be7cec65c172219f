"""The LP calls the compiled pricing loop only with the argument types `warm_up` compiles.

A read-only array (a broadcast view that `np.ascontiguousarray` hands back unchanged when one
offering is priced) is another Numba signature: it was compiled inside the first timed solve that
met it, 4.1 s of CPU out of a 10 s limit, after `warm_up` had run at install time.
"""

from __future__ import annotations

from numba import types

from optimizer.solver.search_kernels import price_offerings, warm_up
from tests.solver_helpers import random_problem, run


def _read_only_arguments() -> list[str]:
    return [
        str(signature)
        for signature in price_offerings.signatures
        if any(isinstance(arg, types.Array) and not arg.mutable for arg in signature)
    ]


def test_solves_use_only_writable_arrays_in_the_pricing_loop() -> None:
    warm_up()
    assert not _read_only_arguments()
    for seed in range(4):
        run(random_problem(seed, n_buckets=6))
    assert not _read_only_arguments()
