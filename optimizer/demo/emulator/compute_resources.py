"""Batch UpdateComputeEnvironment that really changes `computeResources`.

Gap in moto 5.2.5: `update_compute_environment` accepts `computeResources` and drops it (its own
source says "TODO Implement resizing"), so applying a recommendation would report success and change
nothing. This handler lets moto do what it does (state, serviceRole, existence checks) and then
applies the update to the stored compute environment, following Batch's documented rules:

- scaling fields (`minvCpus`, `maxvCpus`, `desiredvCpus`) can always be updated, with
  0 <= minvCpus <= desiredvCpus <= maxvCpus checked against the merged result;
- infrastructure fields (`instanceTypes`, `allocationStrategy`, `subnets`, `securityGroupIds`,
  `bidPercentage`, `ec2Configuration`, `launchTemplate`, `instanceRole`, `tags`, `type` ...) can be
  updated only when the CE uses an allocation strategy other than BEST_FIT (Batch: "infrastructure
  updates are supported for BEST_FIT_PROGRESSIVE, SPOT_CAPACITY_OPTIMIZED and
  SPOT_PRICE_CAPACITY_OPTIMIZED"); a BEST_FIT CE must be replaced (blue/green) instead, so the
  emulator refuses with a ClientException as Batch does;
- `type` (EC2 <-> SPOT) is never updatable in place;
- `desiredvCpus` is cleared when an infrastructure update is applied, as Batch then re-scales.

The reply is Batch's (`computeEnvironmentName`, `computeEnvironmentArn`), and the next
DescribeComputeEnvironments shows the new configuration.
"""

from __future__ import annotations

from typing import Any

from moto.batch.models import batch_backends

from optimizer.catalog.batch_rules import UPDATABLE_STRATEGIES
from optimizer.demo.emulator.protocol import ApiRequest, ApiResponse, json_error, json_reply

SCALING_FIELDS = frozenset({"minvCpus", "maxvCpus", "desiredvCpus"})
INFRASTRUCTURE_STRATEGIES = UPDATABLE_STRATEGIES


def merged_resources(current: dict[str, Any], update: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The computeResources after `update`, or (None, why) when Batch would refuse it."""
    infrastructure = sorted(set(update) - SCALING_FIELDS)
    if "type" in update and update["type"] != current.get("type"):
        return None, "computeResources.type cannot be updated; create a new compute environment"
    strategy = current.get("allocationStrategy", "BEST_FIT")
    if infrastructure and strategy not in INFRASTRUCTURE_STRATEGIES:
        return None, (
            f"Updating {', '.join(infrastructure)} requires allocation strategy "
            f"{', '.join(sorted(INFRASTRUCTURE_STRATEGIES))}; this compute environment uses {strategy}"
        )
    if "allocationStrategy" in update and update["allocationStrategy"] not in INFRASTRUCTURE_STRATEGIES:
        return None, "allocationStrategy can be updated only to BEST_FIT_PROGRESSIVE or a SPOT_* strategy"
    if "instanceTypes" in update and not update["instanceTypes"]:
        return None, "At least 1 instance type must be provided"
    merged = {**current, **update}
    if infrastructure and "desiredvCpus" not in update:
        merged.pop("desiredvCpus", None)
    low = int(merged.get("minvCpus", 0))
    high = int(merged.get("maxvCpus", 0))
    desired = merged.get("desiredvCpus")
    if low < 0 or high < low:
        return None, f"minvCpus ({low}) must be >= 0 and <= maxvCpus ({high})"
    if desired is not None and not low <= int(desired) <= high:
        return None, f"desiredvCpus ({desired}) must be between minvCpus ({low}) and maxvCpus ({high})"
    return merged, ""


class ComputeResourceUpdates:
    def __init__(self, account_id: str) -> None:
        self.account_id = account_id

    def handle(self, request: ApiRequest) -> ApiResponse | None:
        """Validate and apply computeResources; the rest of the update is left to moto (None)."""
        update = request.params.get("computeResources")
        if not update:
            return None
        backend = batch_backends[self.account_id][request.region]
        ref = str(request.params.get("computeEnvironment", ""))
        environment = backend.get_compute_environment(ref)
        if environment is None:
            return json_error("ClientException", f"Compute environment {ref} does not exist")
        if environment.env_type != "MANAGED":
            return json_error(
                "ClientException", "computeResources can be updated only on MANAGED environments"
            )
        merged, problem = merged_resources(dict(environment.compute_resources or {}), dict(update))
        if merged is None:
            return json_error("ClientException", problem)
        rest = {
            k: v for k, v in request.params.items() if k not in ("computeEnvironment", "computeResources")
        }
        if "state" in rest:
            if rest["state"] not in ("ENABLED", "DISABLED"):
                return json_error(
                    "ClientException", f"state {rest['state']} must be one of ENABLED | DISABLED"
                )
            environment.state = rest["state"]
        if "serviceRole" in rest:
            environment.service_role = rest["serviceRole"]
        environment.compute_resources = merged
        return json_reply(
            {"computeEnvironmentName": environment.name, "computeEnvironmentArn": environment.arn}
        )
