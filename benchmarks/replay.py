"""Replay speed: 100,000 and 1,000,000 real jobs through the discrete-event simulator.

Target (issue 6): 1,000,000 jobs in under 60 s and 100,000 in under 6 s on this machine (2 cores,
one used). The jobs are the real KTH-SP2 trace (28,475 jobs), tiled to the wanted count:
- `sequential`: copies back to back, so concurrency is KTH's own (100 processors);
- `overlaid`: each copy shifted by one day, so every copy runs at once (~35x the load, hundreds of
  instances, long queues): the stress case for placement and waiting lines;
- `mnp`: sequential copies imported with `--max-vcpus-per-node 8`, so every KTH job over 8
  processors is a multi-node parallel job (gangs of 2 to 13 nodes, one instance each, placed all
  at once): the MNP-heavy case (issue 20). Jobs are counted as rows, i.e. node jobs.
- `limits`: sequential copies with Batch's time limits on (issue 18): an attempt timeout of
  `LIMITS_TIMEOUT_S` on every job (KTH's longest jobs time out and are not retried) and a
  job-state time limit action on the queue, with instance types of at most 32 vCPUs
  (`LIMITS_TYPES`): KTH jobs of 33 to 64 processors fit no type and are cancelled after 600 s at
  the head of the queue, one at a time.
- `shortages`: sequential copies with capacity shortages on every spot pool (`SHORTAGES`: two a
  day, an hour on average, `optimizer.simulate.shortages`): launches skip short types, jobs fall
  back to the on-demand CE, and every launch asks the shortage calendar (no choice cache).
- `fairshare`: issue 18's case, sequential copies with retries (the spot reclaim rule below), the
  `limits` layout's attempt timeout, and a fair-share policy on the queue (`FAIR_SHARE`,
  `optimizer.simulate.fair_share`): KTH's users grouped into `FAIR_SHARE_TEAMS` share identifiers,
  two of them weighted 0.5, a 1 h decay window, computeReservation 10. maxvCpus is
  `FAIR_SHARE_MAX_VCPUS` per CE, so at KTH's peaks jobs queue and dispatches rank the waiting
  shares by decayed usage under the reservation (64 queues far more, but then KTH's multi-node
  jobs pile up and gang placement, not fair share, dominates the time).
The configuration is a typical estate: a spot CE (c5/m5/r5, SPOT_PRICE_CAPACITY_OPTIMIZED) first,
an on-demand CE (BEST_FIT_PROGRESSIVE) as fallback. The timed part is `replay()` (event loop plus
building the result tables); parsing the trace is excluded.

Run from the repository root (a size other than 100,000 or 1,000,000 is held to the same rate,
60 s per 1,000,000 jobs):

    .venv/bin/python -m benchmarks.replay [--sizes 100000 1000000] [--layouts sequential overlaid]

Prints a table, writes benchmarks/results/replay.json, exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from benchmarks._common import Target, finish, print_table, scaled_seconds, shared_data
from optimizer.catalog.provider import bundled_catalog
from optimizer.simulate import catalog_from_provider, parse_config, replay
from optimizer.simulate.timeouts import TIMEOUT_REASON
from optimizer.traces import TraceMapping, read_trace

KTH = shared_data("traces", "KTH-SP2-1996-2.1-cln.swf.gz")
DAY = 86400.0
MNP_MAX_VCPUS_PER_NODE = 8.0
LIMITS_TIMEOUT_S = 8 * 3600
LIMITS_TYPES = ["c5.xlarge", "c5.2xlarge", "c5.4xlarge", "m5.8xlarge", "r5.8xlarge"]
SHORTAGES = [{"capacityType": "SPOT", "instanceTypes": ["*"], "perDay": 2, "meanDurationSeconds": 3600}]
FAIR_SHARE_TEAMS = 8
FAIR_SHARE_MAX_VCPUS = 96
FAIR_SHARE = {
    "name": "teams",
    "fairsharePolicy": {
        "shareDecaySeconds": 3600,
        "computeReservation": 10,
        "shareDistribution": [
            {"shareIdentifier": "team-0", "weightFactor": 0.5},
            {"shareIdentifier": "team-1*", "weightFactor": 0.5},
        ],
    },
}


def tiled(jobs: pd.DataFrame, n: int, layout: str) -> pd.DataFrame:
    """`n` jobs from copies of the trace; job ids get the copy number, dependencies stay within a copy."""
    copies = -(-n // len(jobs))
    span = float(jobs["submit_s"].max() - jobs["submit_s"].min()) + DAY
    parts = []
    for k in range(copies):
        part = jobs.copy()
        part["submit_s"] = part["submit_s"] + (k * DAY if layout == "overlaid" else k * span)
        part["job_id"] = part["job_id"] + f"-{k}"
        part["depends_on"] = [[f"{d}-{k}" for d in deps] for deps in part["depends_on"]]
        if "mnp_parent" in part:  # each copy's MNP jobs are gangs of their own
            part["mnp_parent"] = [p if p is None else f"{p}-{k}" for p in part["mnp_parent"]]
        parts.append(part)
    out = pd.concat(parts, ignore_index=True).iloc[:n]
    ids = set(out["job_id"])
    out["depends_on"] = [[d for d in deps if d in ids] for deps in out["depends_on"]]
    return out.sort_values("submit_s", kind="stable").reset_index(drop=True)


def configuration(max_vcpus: int) -> dict:
    return {
        "computeEnvironments": [
            {
                "computeEnvironmentName": "spot",
                "type": "MANAGED",
                "computeResources": {
                    "type": "SPOT",
                    "allocationStrategy": "SPOT_PRICE_CAPACITY_OPTIMIZED",
                    "minvCpus": 0,
                    "maxvCpus": max_vcpus,
                    "instanceTypes": ["c5", "m5", "r5"],
                },
            },
            {
                "computeEnvironmentName": "ondemand",
                "type": "MANAGED",
                "computeResources": {
                    "type": "EC2",
                    "allocationStrategy": "BEST_FIT_PROGRESSIVE",
                    "minvCpus": 0,
                    "maxvCpus": max_vcpus,
                    "instanceTypes": ["c5", "m5", "r5"],
                },
            },
        ],
        "jobQueues": [
            {
                "jobQueueName": "main",
                "priority": 1,
                "computeEnvironmentOrder": [
                    {"order": 1, "computeEnvironment": "spot"},
                    {"order": 2, "computeEnvironment": "ondemand"},
                ],
            }
        ],
        "simulation": {
            "seed": 1,
            "defaultRetryStrategy": {
                "attempts": 3,
                "evaluateOnExit": [
                    {"onStatusReason": "Host EC2*", "action": "RETRY"},
                    {"onReason": "*", "action": "EXIT"},
                ],
            },
        },
    }


def with_limits(document: dict) -> dict:
    """The `limits` layout's configuration: an attempt timeout and a job-state time limit action."""
    document["simulation"]["defaultTimeout"] = {"attemptDurationSeconds": LIMITS_TIMEOUT_S}
    for body in document["computeEnvironments"]:
        body["computeResources"]["instanceTypes"] = list(LIMITS_TYPES)
    document["jobQueues"][0]["jobStateTimeLimitActions"] = [
        {
            "reason": "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
            "state": "RUNNABLE",
            "maxTimeSeconds": 600,
            "action": "CANCEL",
        }
    ]
    return document


def with_shortages(document: dict) -> dict:
    """The `shortages` layout's configuration: spot capacity shortages in every pool."""
    document["simulation"]["capacityShortages"] = SHORTAGES
    return document


def with_fair_share(document: dict) -> dict:
    """The `fairshare` layout's configuration: the attempt timeout and a fair-share policy."""
    document["simulation"]["defaultTimeout"] = {"attemptDurationSeconds": LIMITS_TIMEOUT_S}
    document["schedulingPolicies"] = [FAIR_SHARE]
    document["jobQueues"][0]["schedulingPolicyArn"] = FAIR_SHARE["name"]
    return document


def with_teams(jobs: pd.DataFrame) -> pd.DataFrame:
    """KTH's users as `FAIR_SHARE_TEAMS` share identifiers (user number modulo the team count)."""
    numbers = jobs["user"].astype(str).str.lstrip("u").astype(int)
    return jobs.assign(share_identifier="team-" + (numbers % FAIR_SHARE_TEAMS).astype(str))


LAYOUT_DOCUMENT = {"limits": with_limits, "shortages": with_shortages, "fairshare": with_fair_share}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--layouts", nargs="+", default=["sequential", "overlaid", "mnp", "limits", "shortages", "fairshare"]
    )
    args = parser.parse_args()
    catalog = catalog_from_provider(bundled_catalog("us-east-1"))
    bases = {
        "sequential": read_trace(KTH, "swf").jobs,
        "mnp": read_trace(KTH, "swf", TraceMapping(max_vcpus_per_node=MNP_MAX_VCPUS_PER_NODE)).jobs,
    }
    bases["overlaid"] = bases["limits"] = bases["shortages"] = bases["sequential"]
    bases["fairshare"] = with_teams(bases["sequential"])
    rows, records = [], []
    targets = {100_000: 6.0, 1_000_000: 60.0}
    checks = []
    for layout in args.layouts:
        max_vcpus = {"overlaid": 4096, "fairshare": FAIR_SHARE_MAX_VCPUS}.get(layout, 256)
        document = configuration(max_vcpus)
        config = parse_config(LAYOUT_DOCUMENT.get(layout, lambda d: d)(document), catalog)
        for n in args.sizes:
            jobs = tiled(bases[layout], n, layout)
            t0 = time.perf_counter()
            result = replay(jobs, config)
            seconds = time.perf_counter() - t0
            s = result.summary
            target = targets.get(n, scaled_seconds(60.0, 1_000_000, n))
            record = {
                "layout": layout,
                "jobs": n,
                "seconds": round(seconds, 3),
                "jobs_per_second": round(n / seconds),
                "target_seconds": target,
                "meets_target": seconds < target,
                "attempts": s["attempts"],
                "instances": s["instances_launched"],
                "spot_reclaims": s["spot_reclaims"],
                "launches_refused_by_shortages": (s.get("capacity_shortages") or {}).get(
                    "launches_refused", 0
                ),
                "cost_by_capacity_type": s["cost_by_capacity_type"],
                "total_cost_usd": s["total_cost_usd"],
                "wait_p95_s": s["queue_wait_s"]["ALL"]["p95_s"],
                "mnp_jobs": s.get("mnp_jobs", 0),
                "mnp_node_jobs": s.get("mnp_node_jobs", 0),
                "gang_formation_idle_instance_hours": s.get("gang_formation_idle_instance_hours", 0.0),
                "timed_out_jobs": int((result.jobs["status_reason"] == TIMEOUT_REASON).sum()),
                "blocked_heads": s.get("blocked_heads", {}),
                "share_p95_wait_s": {
                    share: w["p95_s"]
                    for waits in s.get("share_wait_s", {}).values()
                    for share, w in waits.items()
                },
                "cancelled_by_state_limit": int(
                    result.jobs["status_reason"]
                    .astype(str)
                    .str.startswith("Terminated by JobStateTimeLimit")
                    .sum()
                ),
            }
            records.append(record)
            rows.append(
                [
                    layout,
                    n,
                    seconds,
                    record["jobs_per_second"],
                    f"< {target:g} s: {'yes' if seconds < target else 'NO'}",
                    s["attempts"],
                    s["instances_launched"],
                    s["spot_reclaims"],
                    s["total_cost_usd"],
                    s.get("mnp_jobs", 0),
                ]
            )
            print(f"{layout} {n:,} jobs: {seconds:.2f} s", file=sys.stderr)
            checks.append(
                Target(
                    f"replay {n:,} jobs, {layout}", f"{seconds:.2f} s", f"< {target:g} s", seconds < target
                )
            )
    print_table(
        [
            "layout",
            "jobs",
            "seconds",
            "jobs/s",
            "target",
            "attempts",
            "instances",
            "reclaims",
            "cost USD",
            "MNP",
        ],
        rows,
    )
    return finish("replay", {"results": records, "median_of": 1, "numpy": np.__version__}, checks)


if __name__ == "__main__":
    sys.exit(main())
