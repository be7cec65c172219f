"""ECS ListContainerInstances / DescribeContainerInstances for the instances Batch ran jobs on.

Gap in moto 5.2.5: a Batch compute environment gets an ECS cluster but no container instances (moto
launches EC2 instances for minvCpus and never registers them), and a registration always carries
"now" as its time. Collectors need the container instance ARN -> EC2 instance id, type, AZ and
registration time to attribute job attempts to instances. This handler serves the seeded container
instances of clusters it knows (other clusters go to moto unchanged):

- instances whose EC2 instance is gone are INACTIVE (ECS keeps deregistered instances describable
  for a while; the emulator keeps them for the whole history, standing in for a collector that
  snapshotted them while they ran);
- `status` filters ListContainerInstances; `maxResults` (1..100, default 100) and `nextToken` page
  it; DescribeContainerInstances takes at most 100 ARNs and reports unknown ones as `failures`.
"""

from __future__ import annotations

from typing import Any

from optimizer.demo.emulator.batch_jobs import decode_token, encode_token
from optimizer.demo.emulator.protocol import ApiRequest, ApiResponse, json_error, json_reply
from optimizer.demo.emulator.state import EmulatorState

MAX_PAGE = 100


class ContainerInstances:
    def __init__(self, state: EmulatorState, account_id: str) -> None:
        self.state = state
        self.account_id = account_id

    def _cluster_arn(self, region: str, ref: str) -> str:
        if ref.startswith("arn:"):
            return ref
        return f"arn:aws:ecs:{region}:{self.account_id}:cluster/{ref}"

    def _known(self, request: ApiRequest) -> str | None:
        ref = str(request.params.get("cluster") or "default")
        arn = self._cluster_arn(request.region, ref)
        return arn if self.state.has_cluster(self.account_id, request.region, arn) else None

    def list_container_instances(self, request: ApiRequest) -> ApiResponse | None:
        cluster = self._known(request)
        if cluster is None:
            return None
        params = request.params
        max_results = params.get("maxResults", MAX_PAGE)
        if not isinstance(max_results, int) or not 1 <= max_results <= MAX_PAGE:
            return json_error("InvalidParameterException", f"maxResults must be 1..{MAX_PAGE}", amz_json=True)
        offset = 0
        if params.get("nextToken"):
            decoded = decode_token(str(params["nextToken"]))
            if decoded is None:
                return json_error("InvalidParameterException", "Invalid nextToken", amz_json=True)
            offset = decoded
        items = self.state.cluster_instances(self.account_id, request.region, cluster)
        status = params.get("status")
        if status:
            items = [i for i in items if i.get("status") == status]
        page = items[offset : offset + max_results]
        reply: dict[str, Any] = {"containerInstanceArns": [i["containerInstanceArn"] for i in page]}
        if offset + max_results < len(items):
            reply["nextToken"] = encode_token(offset + max_results)
        return json_reply(reply, amz_json=True)

    def describe_container_instances(self, request: ApiRequest) -> ApiResponse | None:
        cluster = self._known(request)
        if cluster is None:
            return None
        arns = [str(a) for a in request.params.get("containerInstances") or []]
        if len(arns) > MAX_PAGE:
            return json_error(
                "InvalidParameterException", "At most 100 container instances per call", amz_json=True
            )
        prefix = (
            f"arn:aws:ecs:{request.region}:{self.account_id}:container-instance/{cluster.rsplit('/', 1)[-1]}/"
        )
        full = [a if a.startswith("arn:") else prefix + a for a in arns]
        found = self.state.container_instances(self.account_id, request.region, full)
        failures = [{"arn": a, "reason": "MISSING"} for a in full if a not in found]
        return json_reply(
            {"containerInstances": [found[a] for a in full if a in found], "failures": failures},
            amz_json=True,
        )
