"""Fair-share scheduling of a job queue, as the Batch user guide defines it.

A queue with a `schedulingPolicyArn` naming one of the document's `schedulingPolicies`
(CreateSchedulingPolicy bodies: `name`, `fairsharePolicy` with `shareDecaySeconds`,
`computeReservation`, `shareDistribution` of `shareIdentifier` (exact, or a prefix ending in `*`)
and `weightFactor`) orders its RUNNABLE jobs by share instead of FIFO:

- Usage: the Batch scheduler sums "the total vCPU seconds across all actively running and
  recently completed jobs" of a share, with recent work weighing more. The replay's reading: a
  share's usage is its vCPUs placed now plus their exponentially decayed average over
  `shareDecaySeconds` (0 means Batch's default minimum window, 600 s, per botocore's model), so a
  share that ran a burst stays "used" for about one window after it ends, and a start counts at
  once (a burst of free room is split between shares, not all given to one).
- Order: the share with the lowest usage x weightFactor goes first (a weight of 0.125 gets eight
  times the capacity of a weight of 1); a share not in `shareDistribution` weighs 1.0; within a
  share, higher `schedulingPriority` first, then FIFO.
- computeReservation: of the queue's maximum vCPUs (the sum of its compute environments'
  maxvCpus), the fraction (computeReservation/100)^ActiveFairShares is kept for share identifiers
  not yet active; a share is active while it has RUNNABLE or running jobs and for one decay window
  after its last one ended. The queue starts another job only while its placed vCPUs are below the
  rest (`FairShareQueue.is_open`).

Jobs carry their share in the `share_identifier` column (none: share ""), their priority in
`scheduling_priority` (else the trace's `priority`; none: 0). Multi-node parallel jobs keep their
own path (`gangs.py`) and do not count towards usage. A fair-share queue is not blocked by a job no
compute environment can run (`head_blocking.py`).
"""

from __future__ import annotations

import heapq
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from optimizer.errors import ConfigError

DEFAULT_DECAY_S = 600.0
MAX_DECAY_S = 604800
MIN_WEIGHT, MAX_WEIGHT = 0.0001, 999.9999
MAX_RESERVATION = 99
POLICY_KEYS = frozenset({"name", "fairsharePolicy", "tags"})
FAIRSHARE_KEYS = frozenset({"shareDecaySeconds", "computeReservation", "shareDistribution"})
SHARE_KEYS = frozenset({"shareIdentifier", "weightFactor"})
MAX_NAME_LENGTH = 128
RESOURCE_NAME = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_NAME_LENGTH}}}")
"""CreateJobQueue.jobQueueName and CreateSchedulingPolicy.name in botocore's model: "It can be up
to 128 letters long. It can contain uppercase and lowercase letters, numbers, hyphens (-), and
underscores (_)." (matched whole: `fullmatch`)."""


@dataclass(frozen=True)
class SchedulingPolicy:
    """A fair-share scheduling policy (CreateSchedulingPolicy's `fairsharePolicy`)."""

    name: str
    share_decay_s: float = DEFAULT_DECAY_S
    compute_reservation: int = 0
    #: (shareIdentifier, weightFactor) in document order; an identifier ending in `*` is a prefix.
    share_distribution: tuple[tuple[str, float], ...] = ()

    def weight(self, share: str) -> float:
        """The share's weightFactor: an exact entry, else the longest matching prefix, else 1.0."""
        best, best_len = 1.0, -1
        for identifier, weight in self.share_distribution:
            if identifier == share:
                return weight
            if identifier.endswith("*") and share.startswith(identifier[:-1]) and len(identifier) > best_len:
                best, best_len = weight, len(identifier)
        return best


def _integer(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{where}: must be an integer from {low} to {high}, got {value!r}")
    return value


def _policy(body: Any, where: str) -> SchedulingPolicy:
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: expected a CreateSchedulingPolicy request object")
    for key in sorted(set(body) - POLICY_KEYS):
        detail = " (quota-share policies cannot be replayed)" if key == "quotaSharePolicy" else ""
        raise ConfigError(f"{where}.{key}: unknown field{detail} (known: {', '.join(sorted(POLICY_KEYS))})")
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.name: required")
    where = f"{where} ({name}).fairsharePolicy"
    data = body.get("fairsharePolicy") or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object")
    for key in sorted(set(data) - FAIRSHARE_KEYS):
        raise ConfigError(f"{where}.{key}: unknown field (known: {', '.join(sorted(FAIRSHARE_KEYS))})")
    decay = _integer(data.get("shareDecaySeconds", 0), f"{where}.shareDecaySeconds", 0, MAX_DECAY_S)
    reservation = _integer(
        data.get("computeReservation", 0), f"{where}.computeReservation", 0, MAX_RESERVATION
    )
    entries = data.get("shareDistribution") or []
    if not isinstance(entries, list):
        raise ConfigError(f"{where}.shareDistribution: expected a list")
    shares: list[tuple[str, float]] = []
    for k, entry in enumerate(entries):
        here = f"{where}.shareDistribution[{k}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{here}: expected an object")
        for key in sorted(set(entry) - SHARE_KEYS):
            raise ConfigError(f"{here}.{key}: unknown field (known: {', '.join(sorted(SHARE_KEYS))})")
        identifier = entry.get("shareIdentifier")
        if not isinstance(identifier, str) or not identifier or "*" in identifier[:-1]:
            raise ConfigError(f"{here}.shareIdentifier: required, a name optionally ending in '*'")
        weight = entry.get("weightFactor", 1.0)
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not MIN_WEIGHT <= weight <= MAX_WEIGHT
        ):
            raise ConfigError(
                f"{here}.weightFactor: must be from {MIN_WEIGHT} to {MAX_WEIGHT}, got {weight!r}"
            )
        shares.append((identifier, float(weight)))
    # "The list of share identifiers in a fair-share policy can't overlap" (botocore's model).
    for a, (first, _) in enumerate(shares):
        for second, _ in shares[a + 1 :]:
            if _overlap(first, second):
                raise ConfigError(f"{where}.shareDistribution: {first!r} and {second!r} overlap")
    return SchedulingPolicy(
        name=name,
        share_decay_s=float(decay) if decay > 0 else DEFAULT_DECAY_S,
        compute_reservation=reservation,
        share_distribution=tuple(shares),
    )


def _overlap(a: str, b: str) -> bool:
    def covers(prefix: str, other: str) -> bool:
        return prefix.endswith("*") and other.rstrip("*").startswith(prefix[:-1])

    return a == b or covers(a, b) or covers(b, a)


def policies_from_api(data: Any) -> dict[str, SchedulingPolicy]:
    """The document's `schedulingPolicies` by name; a bad entry raises ConfigError naming its field."""
    if data is None:
        return {}
    if not isinstance(data, list):
        raise ConfigError("schedulingPolicies: expected a list of CreateSchedulingPolicy request objects")
    out: dict[str, SchedulingPolicy] = {}
    for index, body in enumerate(data):
        policy = _policy(body, f"schedulingPolicies[{index}]")
        if policy.name in out:
            raise ConfigError(f"schedulingPolicies[{index}]: duplicate name {policy.name!r}")
        out[policy.name] = policy
    return out


def job_priorities(jobs: pd.DataFrame) -> list[int]:
    """Each job's schedulingPriority (`scheduling_priority`, else the trace's `priority`; none: 0)."""
    column = (
        "scheduling_priority" if "scheduling_priority" in jobs else "priority" if "priority" in jobs else None
    )
    if column is None:
        return [0] * len(jobs)
    values = pd.to_numeric(jobs[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(values), 0, values).astype(np.int64).tolist()


class ShareLine:
    """A fair-share queue's waiting jobs of one shape: a heap per share, (-priority, FIFO order)."""

    __slots__ = ("heaps", "size")

    def __init__(self) -> None:
        self.heaps: dict[int, list[tuple[int, int, int]]] = {}
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def push(self, share: int, priority: int, order: int, j: int) -> None:
        heap = self.heaps.get(share)
        if heap is None:
            heap = self.heaps[share] = []
        heapq.heappush(heap, (-priority, order, j))
        self.size += 1

    def best(self, score: list[float]) -> tuple[tuple[float, int, int], int]:
        """The key (weighted usage, -priority, FIFO order) of the line's next job, and its share."""
        best_key: tuple[float, int, int] | None = None
        best_share = -1
        for share, heap in self.heaps.items():
            neg_priority, order, _ = heap[0]
            key = (score[share], neg_priority, order)
            if best_key is None or key < best_key:
                best_key, best_share = key, share
        assert best_key is not None
        return best_key, best_share

    def pop(self, share: int) -> int:
        heap = self.heaps[share]
        j = heapq.heappop(heap)[2]
        if not heap:
            del self.heaps[share]
        self.size -= 1
        return j


class FairShareQueue:
    """One fair-share queue's state: per share, vCPUs placed, decayed usage, live jobs, activity."""

    def __init__(self, policy: SchedulingPolicy, shares: list[str], max_vcpus: float) -> None:
        self.policy = policy
        self.shares = shares
        self.weights = [policy.weight(s) for s in shares]
        self.decay = policy.share_decay_s
        self.reserve = policy.compute_reservation / 100.0
        self.max_vcpus = max_vcpus
        n = len(shares)
        self.placed = [0.0] * n  # vCPUs of this share's jobs placed (bound or running) now
        self.average = [0.0] * n  # decayed average of `placed` over the decay window
        self.updated = [0.0] * n
        self.live = [0] * n  # jobs RUNNABLE or placed
        self.idle_since = [-math.inf] * n
        self.queue_placed = 0.0
        self.held_back = False  # the compute reservation held a job back: offer room when it opens

    def _advance(self, k: int, t: float) -> None:
        dt = t - self.updated[k]
        if dt > 0:
            keep = math.exp(-dt / self.decay)
            self.average[k] = self.average[k] * keep + self.placed[k] * (1.0 - keep)
            self.updated[k] = t

    def scores(self, t: float) -> list[float]:
        """Each share's weighted usage at t: weightFactor x (vCPUs placed + decayed average)."""
        out = []
        for k, weight in enumerate(self.weights):
            dt = t - self.updated[k]
            keep = math.exp(-dt / self.decay) if dt > 0 else 1.0
            average = self.average[k] * keep + self.placed[k] * (1.0 - keep)
            out.append(weight * (self.placed[k] + average))
        return out

    def runnable(self, k: int, t: float) -> bool:
        """A job of share k became RUNNABLE. True when that made the share active under a
        compute reservation: the reserve shrank, so jobs it held back may now go."""
        woke = self.reserve > 0 and self.live[k] == 0 and t >= self.idle_since[k] + self.decay
        self.live[k] += 1
        return woke

    def placed_job(self, k: int, vcpus: float, t: float) -> None:
        self._advance(k, t)
        self.placed[k] += vcpus
        self.queue_placed += vcpus

    def ended(self, k: int, vcpus: float, t: float) -> None:
        """An attempt of share k ended (the job may become RUNNABLE again: `runnable` then)."""
        self._advance(k, t)
        self.placed[k] -= vcpus
        self.queue_placed -= vcpus
        self.live[k] -= 1
        if self.live[k] == 0:
            self.idle_since[k] = t

    def is_open(self, t: float, up_vcpus: float) -> bool:
        """Whether the queue may place another job under computeReservation: its placed vCPUs are
        below its maximum less the reserved (computeReservation/100)^active x maxvCpus. The maximum
        is the summed maxvCpus, or the vCPUs its compute environments have up when Batch's
        one-instance overshoot took them past it (so a reservation near 0 never refuses a job the
        FIFO replay would place). A job may itself go past the line, as an instance may go past
        maxvCpus."""
        if self.reserve <= 0:
            return True
        active = sum(
            1 for k in range(len(self.shares)) if self.live[k] > 0 or t < self.idle_since[k] + self.decay
        )
        usable = max(self.max_vcpus, up_vcpus) - self.reserve**active * self.max_vcpus
        return self.queue_placed < usable - 1e-9
