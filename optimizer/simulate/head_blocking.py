"""Head-of-line blocking: a job no compute environment can run blocks the jobs behind it in its queue.

The Batch user guide ("Jobs stuck in a RUNNABLE status") describes a RUNNABLE job "at the head and
blocking the queue": when no compute environment of the queue can ever host the job (its blocked
reason is MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT or MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE,
`timeouts.blocked_reason`), the jobs that became RUNNABLE after it wait until it leaves the head,
which a queue's `jobStateTimeLimitActions` entry for that reason does after maxTimeSeconds (CANCEL),
"allowing the next job to advance to the head of the job queue". Jobs that became RUNNABLE before
it (waiting for capacity) are ahead of it and are dispatched as usual.

The replay's reading:
- A blocked job reaches the head when it becomes RUNNABLE or when the blocked job before it in the
  same queue leaves, whichever is later (`timeouts.HeadOfQueue`); it leaves maxTimeSeconds later.
- While a queue has a blocked head, every job that becomes RUNNABLE in it is held (in FIFO order,
  outside the shape lines the dispatcher scans, so holding costs nothing per dispatch pass). When
  the head leaves, the held jobs ahead of the next blocked job (all of them when there is none) are
  offered capacity in their FIFO order; the others stay held behind the next one.
- Without a matching action the job is removed after `simulation.blockedJobCancelSeconds` (its
  owner cancelling it); 0, the default, fails it at once without blocking, which is how the replay
  treated such jobs before it modelled blocking. Batch itself would leave it at the head for ever.
- Fair-share queues are not blocked (their head depends on share usage, `fair_share.py`); their
  blocked jobs are removed on the same clock.
- Multi-node parallel jobs (`gangs.py`) are not held. One whose queue reaches only SPOT EC2 compute
  environments (Batch runs no MNP job on Spot) is itself a blocked head, with the product's
  reason `gangs.SPOT_ONLY_REASON`: Batch documents no reason code for it, so no
  `jobStateTimeLimitActions` entry matches and only the owner's cancel removes it.

Every blocked job is logged: queue, job, reason, when it reached the head, how long it stayed, how
many jobs it held back, and what removed it. `results.blocked_heads` turns the log into a table.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import pandas as pd

from optimizer.simulate.timeouts import HeadOfQueue

#: What removed a blocked job from the head of its queue (the `removed_by` column).
BY_ACTION = "jobStateTimeLimitActions"
BY_OWNER = "simulation.blockedJobCancelSeconds"
AT_ONCE = "failed at once"

BLOCKED_COLUMNS = ("queue", "job_id", "reason", "head_at_s", "blocked_s", "jobs_delayed", "removed_by")


@dataclass
class BlockedHead:
    """One blocked job's stay at the head of its queue (seconds since the replay's start)."""

    queue: int
    job: int
    reason: str
    head_at: float
    removed_at: float
    removed_by: str
    jobs_delayed: int = 0


class QueueHeads:
    """Per queue: the blocked jobs in FIFO order, the jobs held behind the first of them, the log.

    `gated[q]` is True while queue q's head is a blocked job that holds the jobs behind it; the
    engine reads that list directly on every job that becomes RUNNABLE (one index, no call).
    """

    def __init__(self, queues: int, blocking: list[bool]) -> None:
        self._blocking = blocking  # False for fair-share queues: their blocked jobs hold nothing
        self._clock = HeadOfQueue()
        self._blocked: list[deque[BlockedHead]] = [deque() for _ in range(queues)]
        self._held: list[deque[int]] = [deque() for _ in range(queues)]
        self.gated = [False] * queues
        self.log: list[BlockedHead] = []
        self.held_jobs = 0

    def block(self, q: int, j: int, runnable_at: float, hold_s: float, reason: str, by: str) -> float:
        """Job j of queue q cannot run anywhere: queue it behind the queue's earlier blocked jobs.
        Returns when it leaves the head (the caller schedules its removal then)."""
        removed_at = self._clock.cancel_at(q, runnable_at, hold_s)
        entry = BlockedHead(q, j, reason, removed_at - hold_s, removed_at, by)
        self._blocked[q].append(entry)
        self.gated[q] = self._blocking[q]
        return removed_at

    def failed_at_once(self, q: int, j: int, t: float, reason: str) -> None:
        """Log a blocked job that no action or cancel delay keeps: it never holds anything."""
        self.log.append(BlockedHead(q, j, reason, t, t, AT_ONCE))

    def hold(self, q: int, j: int) -> None:
        """Job j became RUNNABLE behind queue q's blocked head: it waits until that head leaves."""
        self._held[q].append(j)
        self.held_jobs += 1

    def remove(self, q: int, j: int, runnable_order: list[int]) -> tuple[BlockedHead, list[int]]:
        """Blocked job j leaves queue q's head: its log entry, and the held jobs now free to run
        (those ahead of the next blocked job), in FIFO order."""
        line = self._blocked[q]
        entry = line.popleft()
        if entry.job != j:
            raise AssertionError(f"blocked jobs of queue {q} left out of order ({entry.job} before {j})")
        held = self._held[q]
        entry.jobs_delayed = len(held)
        self.log.append(entry)
        until = runnable_order[line[0].job] if line else math.inf
        freed: list[int] = []
        while held and runnable_order[held[0]] < until:
            freed.append(held.popleft())
        self.held_jobs -= len(freed)
        self.gated[q] = bool(line) and self._blocking[q]
        return entry, freed


def blocked_frame(log: list[BlockedHead], queue_names: list[str], job_ids: list[str]) -> pd.DataFrame:
    """The log as a table (columns `BLOCKED_COLUMNS`), in the order the jobs left their heads."""
    return pd.DataFrame(
        {
            "queue": [queue_names[e.queue] for e in log],
            "job_id": [job_ids[e.job] for e in log],
            "reason": [e.reason for e in log],
            "head_at_s": [float(e.head_at) for e in log],
            "blocked_s": [float(e.removed_at - e.head_at) for e in log],
            "jobs_delayed": pd.array([e.jobs_delayed for e in log], dtype="int64"),
            "removed_by": [e.removed_by for e in log],
        },
        columns=list(BLOCKED_COLUMNS),
    )
