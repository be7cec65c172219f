"""Child process that runs one MathOpt solve: `python -m optimizer.solver.mip_worker`.

HiGHS checks its time limit between nodes and cut rounds; on some masters (the KTH week under spot
diversification) one root separation round ran 80 s past a 5 s limit, in C++, where neither
MathOpt's limit nor an interrupter reaches. Running the solve in a child that the parent kills at
the hard deadline is the only stop that always works. Protocol on stdin: the solver type as 4 bytes,
then four length-prefixed serialized protos (model, init arguments, parameters, model parameters);
stdout gets the serialized SolveResultProto.

The worker also ends when the process that started it dies (`_exit_with_parent`): the committed LP's
child (`committed_master.py`) runs its integer program here, and that child is killed when the
solve collects it; HiGHS, orphaned, would otherwise run on past its limit (80 s, above) on a core
the next solve needs.
"""

from __future__ import annotations

import os
import struct
import sys
import threading
import time

from ortools.math_opt import callback_pb2, model_parameters_pb2, model_pb2, parameters_pb2
from ortools.math_opt.core.python import solver

from optimizer.solver.highs_stdout import highs_stdout_silenced


def _blobs(data: bytes) -> list[bytes]:
    out, at = [], 0
    while at < len(data):
        (size,) = struct.unpack_from("<Q", data, at)
        out.append(data[at + 8 : at + 8 + size])
        at += 8 + size
    return out


#: How often the worker checks that the process that started it is alive (seconds).
PARENT_POLL_SECONDS = 0.2


def _exit_with_parent(parent: int) -> None:
    """Exit at once when this process's parent is no longer `parent` (it died: the worker was
    re-parented). A daemon thread: HiGHS holds the main thread in C++ until it returns."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def main() -> int:
    _exit_with_parent(os.getppid())
    data = sys.stdin.buffer.read()
    (solver_type,) = struct.unpack_from("<i", data, 0)
    model, init_args, params, model_params = _blobs(data[4:])
    with highs_stdout_silenced():  # stdout carries the result proto, nothing else
        result = solver.solve(
            model_pb2.ModelProto.FromString(model),
            solver_type,
            parameters_pb2.SolverInitializerProto.FromString(init_args),
            parameters_pb2.SolveParametersProto.FromString(params),
            model_parameters_pb2.ModelSolveParametersProto.FromString(model_params),
            None,
            callback_pb2.CallbackRegistrationProto(),
            None,
            None,
        )
    sys.stdout.buffer.write(result if isinstance(result, bytes) else result.SerializeToString())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
