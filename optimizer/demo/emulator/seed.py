"""Seeding: job history in the store's frame contract -> what the emulated APIs return.

The history arrives as three frames with the store's columns (`optimizer/store/tables/`): `jobs`,
`job_attempts` and `instances`, where instance ids are the history's own names and every time is a
UTC timestamp. Seeding turns them into what a Batch estate leaves behind in each service:

- EC2 (moto's backend, seeded directly because the server is in-process): one instance per history
  instance, in a subnet of its compute environment, with its real launch time, `instanceLifecycle`
  spot for SPOT capacity, `terminated` when it stopped before `now`, and the `AWSBatchServiceTag`
  tag Batch puts on the instances it launches. moto assigns the instance ids.
- ECS (`EmulatorState`): a container instance per EC2 instance in the CE's cluster, registered at
  launch, INACTIVE once terminated.
- Batch (`EmulatorState`): a DescribeJobs item per job with every attempt (container instance, task,
  log stream, exit code, reason such as "Host EC2 (instance i-...) terminated." for spot reclaims).
- CloudWatch Logs (moto's backend): Container Insights performance events (`Type: Task`) for each
  attempt, in `/aws/ecs/containerinsights/<cluster>/performance`. Real Container Insights writes one
  event per task per minute; the emulator writes `SAMPLES_PER_ATTEMPT` events spread over the run
  (the last one at the attempt's peak, from `peak_vcpus` / `peak_memory_mib`), which keeps a month of
  history small while preserving what right-sizing reads: the peak and the reservation.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from moto.batch.models import batch_backends
from moto.ec2.models import ec2_backends
from moto.ec2.models.instances import InstanceState
from moto.logs.models import logs_backends

from optimizer.catalog.files import load_price_snapshot
from optimizer.demo.emulator.state import EmulatorState

SAMPLES_PER_ATTEMPT = 4
RAMP = (0.55, 0.8, 0.9, 1.0)  # fraction of the peak at each sample: usage climbs to its peak
BATCH_INSTANCE_TAG = "AWSBatchServiceTag"
ECS_AMI = "ami-03cf127a"  # the image id moto's Batch uses for the instances it launches itself


@dataclass(frozen=True)
class HistoryFrames:
    """Job history in the store's columns (`jobs`, `job_attempts`, `instances`)."""

    jobs: pd.DataFrame
    attempts: pd.DataFrame
    instances: pd.DataFrame


@dataclass(frozen=True)
class SeedCounts:
    jobs: int
    attempts: int
    instances: int
    log_events: int
    instance_ids: dict[str, str] = field(default_factory=dict)
    """History instance name -> the EC2 instance id the emulator gave it."""
    task_arns: dict[tuple[str, int], str] = field(default_factory=dict)
    """(job id, attempt number) -> the ECS task ARN DescribeJobs reports for that attempt."""


def _ms(value: Any) -> int | None:
    """Epoch milliseconds (Batch's time unit); naive store times are UTC."""
    moment = _utc(value)
    return None if moment is None else int(moment.timestamp() * 1000)


def _hex(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def _uuid(seed: str) -> str:
    h = _hex(seed, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _utc(value: Any) -> datetime | None:
    """A store time (naive means UTC, the store's convention) as an aware UTC datetime."""
    if value is None or pd.isna(value):
        return None
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    return stamp.to_pydatetime()


def _int_or_none(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


class HistorySeeder:
    """Seeds one (account, region) of the emulator from history frames."""

    def __init__(self, state: EmulatorState, account_id: str, region: str, now: datetime) -> None:
        self.state = state
        self.account_id = account_id
        self.region = region
        self.now = _utc(now) or now
        self.task_arns: dict[tuple[str, int], str] = {}
        self.batch = batch_backends[account_id][region]
        self.ec2 = ec2_backends[account_id][region]
        self.logs = logs_backends[account_id][region]

    def seed(self, frames: HistoryFrames) -> SeedCounts:
        self._drop_placeholder_instances()
        instance_rows = self._seed_instances(frames.instances)
        container = self._seed_container_instances(instance_rows)
        jobs, attempts, events = self._seed_jobs(frames.jobs, frames.attempts, instance_rows, container)
        return SeedCounts(
            jobs=jobs,
            attempts=attempts,
            instances=len(instance_rows),
            log_events=events,
            instance_ids={name: row["ec2_id"] for name, row in instance_rows.items()},
            task_arns=dict(self.task_arns),
        )

    # EC2 ---------------------------------------------------------------------------------------
    def _drop_placeholder_instances(self) -> None:
        """moto launches minvCpus worth of instances at CreateComputeEnvironment, all "now" and never
        registered with ECS; the history's own instances (those still up at `now` included) replace
        them, so nothing is counted twice."""
        placeholder = {i.id for env in self.batch._compute_environments.values() for i in env.instances}
        for reservation_id, reservation in list(self.ec2.reservations.items()):
            if any(i.id in placeholder for i in reservation.instances):
                del self.ec2.reservations[reservation_id]
        for env in self.batch._compute_environments.values():
            env.instances = []

    def _subnets(self, ce_arn: str) -> list[tuple[str, str]]:
        environment = self.batch.get_compute_environment(ce_arn)
        if environment is None:
            raise ValueError(f"history names compute environment {ce_arn}, which the estate does not have")
        subnet_ids = list((environment.compute_resources or {}).get("subnets") or [])
        return [(s, self.ec2.get_subnet(s).availability_zone) for s in subnet_ids]

    def _seed_instances(self, instances: pd.DataFrame) -> dict[str, dict[str, Any]]:
        """History instance name -> {ec2 id, type, AZ, CE, cluster, launch, end, capacity}."""
        rows: dict[str, dict[str, Any]] = {}
        groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
        subnets_by_ce: dict[str, list[tuple[str, str]]] = {}
        for row in instances.to_dict("records"):
            ce_arn = str(row["compute_environment_arn"])
            if ce_arn not in subnets_by_ce:
                subnets_by_ce[ce_arn] = self._subnets(ce_arn)
            choices = subnets_by_ce[ce_arn]
            wanted = row.get("availability_zone")
            matching = [c for c in choices if c[1] == wanted] if isinstance(wanted, str) else []
            # Batch spreads instances over the CE's subnets; a stable hash stands in for its choice.
            pool = matching or choices
            subnet, zone = pool[int(_hex(str(row["instance_id"]), 8), 16) % len(pool)]
            groups[(ce_arn, subnet, str(row["instance_type"]), str(row["capacity_type"]))].append(
                {**row, "availability_zone": zone}
            )
        for (ce_arn, subnet, instance_type, capacity), members in groups.items():
            environment = self.batch.get_compute_environment(ce_arn)
            resources = environment.compute_resources or {}
            reservation = self.ec2.run_instances(
                ECS_AMI,
                len(members),
                None,
                [],
                instance_type=instance_type,
                subnet_id=subnet,
                region_name=self.region,
                is_instance_type_default=False,
                security_group_ids=list(resources.get("securityGroupIds") or []),
                key_name=resources.get("ec2KeyPair"),
            )
            for instance, row in zip(reservation.instances, members, strict=True):
                launch = _utc(row["launch_time"])
                end_dt = _utc(row.get("terminated_at"))
                if launch is None:
                    raise ValueError(f"history instance {row['instance_id']}: no launch_time")
                instance.launch_time = launch.replace(tzinfo=None)
                if capacity == "SPOT":
                    instance.lifecycle = "spot"
                if end_dt is not None and end_dt <= self.now:
                    instance._state = InstanceState("terminated", 48)
                    instance._reason = f"Service initiated ({end_dt.strftime('%Y-%m-%d %H:%M:%S')} GMT)"
                self.ec2.create_tags([instance.id], {BATCH_INSTANCE_TAG: environment.name})
                rows[str(row["instance_id"])] = {
                    "ec2_id": instance.id,
                    "instance_type": instance_type,
                    "availability_zone": row["availability_zone"],
                    "ce_arn": ce_arn,
                    "cluster_arn": environment.ecs_arn,
                    "cluster_name": environment.ecs_name,
                    "launch": launch,
                    "end": end_dt,
                    "capacity": capacity,
                }
        return rows

    # ECS ---------------------------------------------------------------------------------------
    def _seed_container_instances(self, rows: dict[str, dict[str, Any]]) -> dict[str, str]:
        """History instance name -> container instance ARN."""
        by_cluster: dict[str, list[dict[str, Any]]] = defaultdict(list)
        arns: dict[str, str] = {}
        specs = load_price_snapshot().set_index("instance_type")
        for name, row in rows.items():
            arn = (
                f"arn:aws:ecs:{self.region}:{self.account_id}:container-instance/"
                f"{row['cluster_name']}/{_hex('ci/' + row['ec2_id'], 32)}"
            )
            arns[name] = arn
            active = row["end"] is None or row["end"] > self.now
            vcpus = int(specs.at[row["instance_type"], "vcpus"]) if row["instance_type"] in specs.index else 0
            memory = (
                int(specs.at[row["instance_type"], "allocatable_memory_mib"])
                if row["instance_type"] in specs.index
                else 0
            )
            by_cluster[row["cluster_arn"]].append(
                {
                    "containerInstanceArn": arn,
                    "ec2InstanceId": row["ec2_id"],
                    "status": "ACTIVE" if active else "INACTIVE",
                    "agentConnected": active,
                    "registeredAt": row["launch"].timestamp(),
                    "runningTasksCount": 0,
                    "pendingTasksCount": 0,
                    "registeredResources": [
                        {"name": "CPU", "type": "INTEGER", "integerValue": vcpus * 1024},
                        {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
                    ],
                    "attributes": [
                        {"name": "ecs.instance-type", "value": row["instance_type"]},
                        {"name": "ecs.availability-zone", "value": row["availability_zone"]},
                        {"name": "ecs.os-type", "value": "linux"},
                        {"name": "ecs.ami-id", "value": ECS_AMI},
                    ],
                    "versionInfo": {"agentVersion": "1.82.0", "dockerVersion": "20.10.25"},
                }
            )
        environments = self.batch.describe_compute_environments(None)
        for environment in environments:
            self.state.add_container_instances(
                self.account_id,
                self.region,
                environment["ecsClusterArn"],
                by_cluster.get(environment["ecsClusterArn"], []),
            )
        return arns

    # Batch jobs and their usage ----------------------------------------------------------------
    def _seed_jobs(
        self,
        jobs: pd.DataFrame,
        attempts: pd.DataFrame,
        instance_rows: dict[str, dict[str, Any]],
        container_arns: dict[str, str],
    ) -> tuple[int, int, int]:
        attempts_by_job: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in attempts.sort_values(["job_id", "attempt"]).to_dict("records"):
            attempts_by_job[str(row["job_id"])].append(row)
        items: list[dict[str, Any]] = []
        events: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        n_attempts = 0
        for job in jobs.to_dict("records"):
            job_id = str(job["job_id"])
            definition = str(job["job_definition"])
            definition_name = str(
                job.get("job_definition_name") or definition.rsplit("/", 1)[-1].split(":")[0]
            )
            api_attempts = []
            for attempt in attempts_by_job.get(job_id, []):
                n_attempts += 1
                api_attempt, event_list, cluster = self._attempt(
                    job, attempt, definition_name, instance_rows, container_arns
                )
                api_attempts.append(api_attempt)
                if cluster:
                    events[(cluster, api_attempt["container"].get("containerInstanceArn", ""))] += event_list
            items.append(self._job_item(job, job_id, definition, api_attempts))
        self.state.add_jobs(self.account_id, self.region, items)
        return len(items), n_attempts, self._write_logs(events)

    def _attempt(
        self,
        job: dict[str, Any],
        attempt: dict[str, Any],
        definition_name: str,
        instance_rows: dict[str, dict[str, Any]],
        container_arns: dict[str, str],
    ) -> tuple[dict[str, Any], list[dict[str, Any]], str | None]:
        name = attempt.get("instance_id")
        instance = instance_rows.get(str(name)) if isinstance(name, str) else None
        seed = f"{job['job_id']}/{attempt['attempt']}"
        task_id = _hex("task/" + seed, 32)
        container: dict[str, Any] = {"logStreamName": f"{definition_name}/default/{task_id}"}
        cluster_name = instance["cluster_name"] if instance else None
        if instance is not None:
            container["containerInstanceArn"] = container_arns[str(name)]
            container["taskArn"] = (
                f"arn:aws:ecs:{self.region}:{self.account_id}:task/{cluster_name}/{task_id}"
            )
            self.task_arns[(str(job["job_id"]), int(attempt["attempt"]))] = container["taskArn"]
        exit_code = _int_or_none(attempt.get("exit_code"))
        if exit_code is not None:
            container["exitCode"] = exit_code
        reason = attempt.get("reason")
        if isinstance(reason, str) and reason:
            container["reason"] = reason
        status_reason = None
        if bool(attempt.get("is_spot_reclaim")) and instance is not None:
            status_reason = f"Host EC2 (instance {instance['ec2_id']}) terminated."
        elif exit_code not in (None, 0):
            status_reason = "Essential container in task exited"
        api: dict[str, Any] = {"container": container}
        started, stopped = _ms(attempt.get("started_at")), _ms(attempt.get("stopped_at"))
        if started is not None:
            api["startedAt"] = started
        if stopped is not None:
            api["stoppedAt"] = stopped
        if status_reason:
            api["statusReason"] = status_reason
        events = self._usage_events(job, attempt, task_id, instance, container_arns.get(str(name)))
        return api, events, cluster_name

    def _usage_events(
        self,
        job: dict[str, Any],
        attempt: dict[str, Any],
        task_id: str,
        instance: dict[str, Any] | None,
        container_arn: str | None,
    ) -> list[dict[str, Any]]:
        start, stop = _ms(attempt.get("started_at")), _ms(attempt.get("stopped_at"))
        peak_mem, peak_cpu = attempt.get("peak_memory_mib"), attempt.get("peak_vcpus")
        if instance is None or start is None or stop is None or pd.isna(peak_mem) or pd.isna(peak_cpu):
            return []
        out = []
        for k, fraction in enumerate(RAMP[:SAMPLES_PER_ATTEMPT]):
            ts = start + (stop - start) * (k + 1) // SAMPLES_PER_ATTEMPT
            message = {
                "Version": "0",
                "Type": "Task",
                "TaskId": task_id,
                "TaskDefinitionFamily": str(job.get("job_definition_name") or ""),
                "ClusterName": instance["cluster_name"],
                "ContainerInstanceId": (container_arn or "").rsplit("/", 1)[-1],
                "EC2InstanceId": instance["ec2_id"],
                "LaunchType": "EC2",
                "Timestamp": ts,
                "CpuUtilized": round(float(peak_cpu) * 1024 * fraction, 3),
                "CpuReserved": round(float(job.get("vcpus") or 0) * 1024, 3),
                "MemoryUtilized": int(float(peak_mem) * fraction),
                "MemoryReserved": int(job.get("memory_mib") or 0),
                "BatchJobId": str(job["job_id"]),
                "BatchJobAttempt": int(attempt["attempt"]),
            }
            out.append({"timestamp": ts, "message": json.dumps(message, separators=(",", ":"))})
        return out

    def _write_logs(self, events: dict[tuple[str, str], list[dict[str, Any]]]) -> int:
        written = 0
        groups_done: set[str] = set()
        for (cluster, container_arn), batch in events.items():
            group = f"/aws/ecs/containerinsights/{cluster}/performance"
            if group not in groups_done and group not in self.logs.groups:
                self.logs.create_log_group(group, {})
            groups_done.add(group)
            stream = f"AgentTelemetry-{container_arn.rsplit('/', 1)[-1]}"
            if stream not in self.logs.groups[group].streams:
                self.logs.create_log_stream(group, stream)
            batch.sort(key=lambda e: e["timestamp"])
            written += self._append_history(group, stream, batch)
        return written

    def _append_history(self, group: str, stream: str, events: list[dict[str, Any]]) -> int:
        """Store events as Container Insights wrote them while the history ran: each ingested at its
        own time. PutLogEvents' acceptance window (14 days back, 2 hours ahead of the clock) governs
        what a writer may send now, not what a log group holds, so seeding does not go through it:
        a month of history keeps its oldest usage, whatever the date the emulator runs on."""
        log_stream = self.logs.groups[group].streams[stream]
        before = len(log_stream.events)
        log_stream.put_log_events(events)
        stored = log_stream.events[before:]
        for event in stored:
            event.ingestion_time = event.timestamp
        if len(stored) != len(events):
            raise RuntimeError(f"{group}/{stream}: {len(stored)} of {len(events)} usage events stored")
        return len(stored)

    def _job_item(
        self, job: dict[str, Any], job_id: str, definition: str, api_attempts: list[dict[str, Any]]
    ) -> dict[str, Any]:
        vcpus = float(job.get("vcpus") or 0)
        requirements = [
            {"type": "VCPU", "value": f"{vcpus:g}"},
            {"type": "MEMORY", "value": str(int(job.get("memory_mib") or 0))},
        ]
        gpus = _int_or_none(job.get("gpus")) or 0
        if gpus:
            requirements.append({"type": "GPU", "value": str(gpus)})
        item: dict[str, Any] = {
            "jobArn": f"arn:aws:batch:{self.region}:{self.account_id}:job/{job_id}",
            "jobName": str(job.get("job_name") or job_id),
            "jobId": job_id,
            "jobQueue": str(job["job_queue_arn"]),
            "status": str(job["status"]),
            "attempts": api_attempts,
            "createdAt": _ms(job["created_at"]),
            "dependsOn": [],
            "jobDefinition": definition,
            "parameters": {},
            "platformCapabilities": ["EC2"],
            "tags": dict(job["tags"]) if isinstance(job.get("tags"), dict) else {},
            "container": {
                "resourceRequirements": requirements,
                **(api_attempts[-1]["container"] if api_attempts else {}),
            },
        }
        for key, column in (("startedAt", "started_at"), ("stoppedAt", "stopped_at")):
            value = _ms(job.get(column))
            if value is not None:
                item[key] = value
        reason = job.get("status_reason")
        if isinstance(reason, str) and reason:
            item["statusReason"] = reason
        elif api_attempts and api_attempts[-1].get("statusReason"):
            item["statusReason"] = api_attempts[-1]["statusReason"]
        retry = _int_or_none(job.get("retry_attempts"))
        if retry:
            item["retryStrategy"] = {"attempts": retry}
        _multinode_fields(job, item)
        return item


def _multinode_fields(job: dict[str, Any], item: dict[str, Any]) -> None:
    """An MNP job as DescribeJobs shows it: the parent (`is_multinode`, no `array_parent_id`) with
    `nodeProperties` (numNodes, main node 0, one node range over every node with its requests) in
    place of a container, a node job `<parent>#<n>` with `nodeDetails`."""
    flag = job.get("is_multinode")
    if pd.isna(flag) or not bool(flag):
        return
    parent = job.get("array_parent_id")
    if isinstance(parent, str) and parent:
        index = _int_or_none(job.get("array_index")) or 0
        item["nodeDetails"] = {"nodeIndex": index, "isMainNode": index == 0}
        return
    container = item.pop("container", {})
    item["nodeProperties"] = {
        "numNodes": _int_or_none(job.get("node_count")) or 1,
        "mainNode": 0,
        "nodeRangeProperties": [
            {
                "targetNodes": "0:",
                "container": {"resourceRequirements": container.get("resourceRequirements", [])},
            }
        ],
    }
