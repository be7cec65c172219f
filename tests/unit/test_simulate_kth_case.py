"""The first eight real KTH-SP2 jobs replayed on a fixed configuration, schedule worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from optimizer.simulate import parse_config, replay
from optimizer.traces import read_trace
from tests.data_paths import shared
from tests.simulate_helpers import ce, queue, real_catalog


def test_kth_first_eight_jobs_match_the_hand_schedule() -> None:
    """Jobs 15-22 of KTH-SP2 (SWF: submit, run, processors, status; 2 GiB per vCPU mapped).

        job  submit   run     vCPUs  trace status
        15   599850   3477    4      completed
        16   600022   2488    25     completed
        17   600476   215337  5      failed (status 0)
        18   600836   35373   17     completed
        19   603930   29      8      completed
        20   605396   16      1      completed
        21   605397   13      1      failed
        22   605398   14      1      failed

    Configuration: one on-demand CE, BEST_FIT (strict maxvCpus = 64), types m4.4xlarge (16 vCPU,
    $0.80/h) and m4.10xlarge (40 vCPU, $2.00/h); launch delay 180 s, idle scale-in 300 s; memory
    never binds (m4: 4 GiB per vCPU against 2 GiB asked).

    By hand:
    - 599850 job 15 (4): nothing runs; BEST_FIT for one 4-vCPU job: m4.4xlarge ($0.80 per job
      hosted) beats m4.10xlarge ($2.00). Launch A = m4.4xlarge (CE at 16 vCPU), job 15 bound to it.
    - 600022 job 16 (25): A has 12 free. Only m4.10xlarge holds 25; headroom 64-16 = 48 >= 40:
      launch B = m4.10xlarge (CE at 56), job 16 bound.
    - 600030 A joins (599850 + 180): job 15 starts, ends 603507.
    - 600202 B joins: job 16 starts, ends 602690.
    - 600476 job 17 (5): first fit, oldest first: A (12 free) -> starts at once, ends 815813 (it
      failed in the trace, so its one attempt exits 1 and the job FAILS; default: 1 attempt).
    - 600836 job 18 (17): A has 7, B 15 free; a new type needs >= 16 vCPU but headroom is 64-56 = 8
      (BEST_FIT on-demand never exceeds maxvCpus): job 18 waits.
    - 602690 job 16 ends: B has 40 free -> job 18 starts there, waited 1854 s, ends 638063.
    - 603507 job 15 ends (A: 11 free). 603930 job 19 (8) starts on A, ends 603959.
    - 605396-605398 jobs 20, 21, 22 (1 each) start on A at submit; end 605412, 605410 (FAILED),
      605412 (FAILED).
    - 638063 job 18 ends, B idle -> terminated 638363. 815813 job 17 ends, A idle -> 816113.
    Cost: A 599850..816113 = 216263 s x $0.80/h = $48.058444; B 600022..638363 = 38341 s x
    $2.00/h = $21.300556; total $69.359000. Waits: 180, 180, 0, 1854, 0, 0, 0, 0.
    """
    jobs = read_trace(shared("traces/KTH-SP2-1996-2.1-cln.swf.gz"), "swf").jobs.head(8)
    assert jobs["job_id"].tolist() == [str(n) for n in range(15, 23)]
    document = {
        "computeEnvironments": [
            ce("od", "EC2", 64, ["m4.4xlarge", "m4.10xlarge"], allocationStrategy="BEST_FIT")
        ],
        "jobQueues": [queue("q", 1, "od")],
        "simulation": {"launchDelaySeconds": 180, "scaleInIdleSeconds": 300},
    }
    result = replay(jobs, parse_config(document, real_catalog()))

    attempts = result.attempts.set_index("job_id")
    expected = pd.DataFrame(
        {
            "started_at": [600030, 600202, 600476, 602690, 603930, 605396, 605397, 605398],
            "ended_at": [603507, 602690, 815813, 638063, 603959, 605412, 605410, 605412],
            "instance_type": ["m4.4xlarge", "m4.10xlarge", "m4.4xlarge", "m4.10xlarge"] + ["m4.4xlarge"] * 4,
            "status": [
                "SUCCEEDED",
                "SUCCEEDED",
                "FAILED",
                "SUCCEEDED",
                "SUCCEEDED",
                "SUCCEEDED",
                "FAILED",
                "FAILED",
            ],
        },
        index=pd.Index([str(n) for n in range(15, 23)], name="job_id"),
    )
    assert attempts["started_at"].tolist() == expected["started_at"].astype(float).tolist()
    assert attempts["ended_at"].tolist() == expected["ended_at"].astype(float).tolist()
    assert attempts["instance_type"].tolist() == expected["instance_type"].tolist()
    assert attempts["status"].tolist() == expected["status"].tolist()
    # Jobs 15, 17, 19-22 share instance A; 16 and 18 share B.
    a, b = attempts.loc["15", "instance_id"], attempts.loc["16", "instance_id"]
    assert attempts["instance_id"].tolist() == [a, b, a, b, a, a, a, a]

    instances = result.instances.set_index("instance_id")
    assert instances.loc[a, ["launched_at", "terminated_at"]].tolist() == [599850.0, 816113.0]
    assert instances.loc[b, ["launched_at", "terminated_at"]].tolist() == [600022.0, 638363.0]
    summary = result.summary
    assert summary["total_cost_usd"] == pytest.approx(69.359, abs=1e-6)
    assert summary["cost_by_instance_type"] == {"m4.4xlarge": 48.058444, "m4.10xlarge": 21.300556}
    waits = (result.jobs["started_at"] - result.jobs["submitted_at"]).tolist()
    assert waits == [180.0, 180.0, 0.0, 1854.0, 0.0, 0.0, 0.0, 0.0]
    assert (summary["succeeded"], summary["failed"], summary["attempts"]) == (5, 3, 8)
    assert summary["makespan_s"] == 815813.0 - 599850.0
