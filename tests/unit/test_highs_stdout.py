"""C-level printf during a solve never reaches stdout; Python's own output before and after does."""

from __future__ import annotations

import ctypes

import pytest

from optimizer.solver.highs_stdout import highs_stdout_silenced


def test_c_printf_inside_is_dropped_and_python_output_around_it_kept(
    capfd: pytest.CaptureFixture[str],
) -> None:
    libc = ctypes.CDLL(None)
    print("before", flush=False)
    with highs_stdout_silenced():
        libc.printf(b"HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();\n")
    print("after", flush=True)
    libc.printf(b"outside\n")
    libc.fflush(None)
    out = capfd.readouterr().out
    assert "tmpSolver" not in out
    assert out.splitlines() == ["before", "after", "outside"]
