"""Batch's two time limits: attempt timeouts and job-state time limit actions on RUNNABLE jobs.

Attempt timeouts (`timeout.attemptDurationSeconds`, at least 60, on the job definition or the
submit): Batch terminates an attempt that much after its `startedAt`; the attempt ends with the
status reason "Job attempt duration exceeded timeout" and, as the Batch user guide says, a job
terminated for its timeout is not retried whatever its retry strategy. (Batch sends SIGTERM then,
30 s later, SIGKILL, on a best-effort clock; the replay ends the attempt at the timeout exactly.)

Job-state time limit actions (`jobStateTimeLimitActions` on the job queue: reason, state RUNNABLE,
maxTimeSeconds 600-86400, action CANCEL): when the job at the head of the queue has been RUNNABLE
with that blocked reason for maxTimeSeconds, Batch cancels it with the status reason
"Canceled by JobStateTimeLimit action due to reason: <reason>" (the user guide's "Jobs stuck in a
RUNNABLE status", "statusReason message after the job is canceled") and the next job advances to
the head. The replay knows two blocked reasons, both for a job no compute environment of its queue can
ever run: MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT (no instance type or Fargate size fits its
vCPUs, memory, GPUs and architecture) and MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE (one
fits, but not within any CE's maxvCpus). Such jobs reach the head one after another, so each is
cancelled maxTimeSeconds after the later of its becoming RUNNABLE and the previous cancellation
in its queue. Without a matching action the replay fails them at once (Batch would leave them
RUNNABLE for ever; the replay cannot run them either way).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optimizer.errors import ConfigError
from optimizer.simulate.allocation import jobs_per_instance
from optimizer.simulate.fargate import fargate_size

if TYPE_CHECKING:
    from optimizer.simulate.config import ComputeEnvironment

TIMEOUT_REASON = "Job attempt duration exceeded timeout"
MIN_ATTEMPT_DURATION_S = 60

JOB_RESOURCE_REQUIREMENT = "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT"
COMPUTE_ENVIRONMENT_MAX_RESOURCE = "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE"
# botocore's batch model leaves JobStateTimeLimitAction.reason a free String ("The reason to log
# for the action being taken.") and lists the blocked reasons under JobDetail.statusReason:
# "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - All compute environments have insufficient capacity
# to service the job", "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE - All compute
# environments have a maxVcpu setting that is smaller than the job requirements",
# "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - All compute environments have no connected instances
# that meet the job requirements", "MISCONFIGURATION:SERVICE_ROLE_PERMISSIONS - All compute
# environments have problems with the service role permissions". The user guide ("Jobs stuck in a
# RUNNABLE status") gives a "reason used for jobStateTimeLimitActions" for the first three only; of
# SERVICE_ROLE_PERMISSIONS (and ACTION_REQUIRED, UNDETERMINED) it says "You can't configure a
# programmable action through the jobStateTimeLimitActions parameter to resolve this error", and
# for MISCONFIGURATION:EC2_INSTANCE_CONFIGURATION_UNSUPPORTED it documents a statusReason but no
# reason for jobStateTimeLimitActions.
REMEDIABLE_REASONS = (
    "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY",
    COMPUTE_ENVIRONMENT_MAX_RESOURCE,
    JOB_RESOURCE_REQUIREMENT,
)
"""The blocked reasons AWS documents as a `jobStateTimeLimitActions` reason (see the comment
above); a proposal or replay document naming another is refused, since Batch is not documented to
act on it."""
MIN_STATE_TIME_S, MAX_STATE_TIME_S = 600, 86400


def cancelled_reason(reason: str) -> str:
    """The statusReason of a job cancelled by a job-state time limit action, word for word as the
    Batch user guide documents it for each reason ("Jobs stuck in a RUNNABLE status": "statusReason
    message after the job is canceled by jobStateTimeLimitActions"), so a replayed job reads like
    the history's own."""
    return f"Canceled by JobStateTimeLimit action due to reason: {reason}"


def attempt_duration_from_api(data: Any, where: str = "timeout") -> float:
    """`timeout` ({"attemptDurationSeconds": N}) as seconds; absent means none (infinity)."""
    if data is None or data == {}:
        return math.inf
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object with attemptDurationSeconds")
    unknown = sorted(set(data) - {"attemptDurationSeconds"})
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown field (known: attemptDurationSeconds)")
    seconds = data.get("attemptDurationSeconds")
    if seconds is None:
        return math.inf
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < MIN_ATTEMPT_DURATION_S:
        raise ConfigError(
            f"{where}.attemptDurationSeconds: must be an integer of at least {MIN_ATTEMPT_DURATION_S},"
            f" got {seconds!r}"
        )
    return float(seconds)


@dataclass(frozen=True)
class StateTimeLimitAction:
    """One `jobStateTimeLimitActions` entry of a job queue."""

    reason: str
    max_time_s: float
    state: str = "RUNNABLE"
    action: str = "CANCEL"

    def to_api(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "state": self.state,
            "maxTimeSeconds": int(self.max_time_s),
            "action": self.action,
        }


def state_limits_from_api(data: Any, where: str) -> tuple[StateTimeLimitAction, ...]:
    """Parse a queue's `jobStateTimeLimitActions`; a bad entry raises ConfigError naming its field."""
    if data is None:
        return ()
    if not isinstance(data, list):
        raise ConfigError(f"{where}: expected a list")
    actions = []
    for index, entry in enumerate(data):
        here = f"{where}[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{here}: expected an object")
        for key in ("reason", "state", "maxTimeSeconds", "action"):
            if key not in entry:
                raise ConfigError(f"{here}.{key}: required")
        if entry["state"] != "RUNNABLE":
            raise ConfigError(f"{here}.state: must be RUNNABLE, got {entry['state']!r}")
        if entry["action"] not in ("CANCEL", "TERMINATE"):
            raise ConfigError(f"{here}.action: must be CANCEL or TERMINATE, got {entry['action']!r}")
        seconds = entry["maxTimeSeconds"]
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int)
            or not MIN_STATE_TIME_S <= seconds <= MAX_STATE_TIME_S
        ):
            raise ConfigError(
                f"{here}.maxTimeSeconds: must be an integer from {MIN_STATE_TIME_S} to"
                f" {MAX_STATE_TIME_S}, got {seconds!r}"
            )
        if entry["reason"] not in REMEDIABLE_REASONS:
            raise ConfigError(
                f"{here}.reason: Batch acts only on {', '.join(REMEDIABLE_REASONS)}; got {entry['reason']!r}"
            )
        actions.append(
            StateTimeLimitAction(
                reason=entry["reason"],
                max_time_s=float(seconds),
                state=entry["state"],
                action=entry["action"],
            )
        )
    return tuple(actions)


def matching_action(
    actions: tuple[StateTimeLimitAction, ...], blocked_reason: str
) -> StateTimeLimitAction | None:
    """The queue's action for a job blocked for `blocked_reason` (the first listed), if any."""
    return next((a for a in actions if a.reason == blocked_reason), None)


class HeadOfQueue:
    """When each blocked job reaches its queue's head and is cancelled: one at a time per queue."""

    def __init__(self) -> None:
        self._free_at: dict[int, float] = {}

    def cancel_at(self, queue: int, runnable_at: float, max_time_s: float) -> float:
        """The cancellation time of a blocked job that became RUNNABLE at `runnable_at` (called in
        the order jobs become RUNNABLE)."""
        at = max(runnable_at, self._free_at.get(queue, -math.inf)) + max_time_s
        self._free_at[queue] = at
        return at


def blocked_reason(
    ces: Sequence[ComputeEnvironment], vcpus: float, memory_mib: float, gpus: int, arch: str
) -> str:
    """Why a job no CE of its queue can run stays RUNNABLE, as Batch words it: some instance type
    (or Fargate size) fits its shape but not within maxvCpus, or none fits at all."""
    for ce in ces:
        if ce.is_fargate:
            if fargate_size(vcpus, memory_mib, gpus) is not None and arch in ("", "x86_64"):
                return COMPUTE_ENVIRONMENT_MAX_RESOURCE
        elif any(
            jobs_per_instance(spec, vcpus, memory_mib, gpus) > 0 and (not arch or spec.arch == arch)
            for spec in ce.instance_types
        ):
            return COMPUTE_ENVIRONMENT_MAX_RESOURCE
    return JOB_RESOURCE_REQUIREMENT
