"""Trace parsers: real files parse to the canonical table; malformed input names file and line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from optimizer.errors import ConfigError, InputError
from optimizer.traces import CANONICAL_COLUMNS, TraceMapping, read_trace
from optimizer.traces.files import parse_text
from tests.data_paths import shared

KTH = "traces/KTH-SP2-1996-2.1-cln.swf.gz"
ALIBABA = "traces/alibaba-gpu-v2023/openb_pod_list_before_day135.csv"


def _swf_line(job: int, submit: int, run: int, procs: int, *, req_mem: int = -1, prev: int = -1) -> str:
    fields = [job, submit, 0, run, procs, -1, -1, procs, 3600, req_mem, 1, 3, 3, -1, 1, -1, prev, -1]
    return " ".join(str(f) for f in fields)


def test_kth_swf_parses_with_header_start_time_and_documented_memory() -> None:
    trace = read_trace(shared(KTH), "swf")
    jobs = trace.jobs
    assert list(jobs.columns[: len(CANONICAL_COLUMNS)]) == list(CANONICAL_COLUMNS)
    # 28,476 records; job 18xxx with 0 allocated and 0 requested processors cannot be replayed.
    # Jobs over 64 processors are one row per node (`mnp_parent`): count Batch jobs, not rows.
    batch_jobs = int(jobs["mnp_parent"].isna().sum()) + jobs["mnp_parent"].nunique()
    assert batch_jobs + sum(trace.skipped.values()) == 28476
    assert trace.start_time is not None and trace.start_time.isoformat() == "1996-09-23T12:00:31"
    first = jobs.iloc[0]
    assert (first.job_id, first.submit_s, first.runtime_s, first.vcpus) == ("15", 599850.0, 3477.0, 4.0)
    assert first.memory_mib == 4 * 2048.0  # no memory in KTH: the mapping's 2 GiB per vCPU
    assert jobs.submit_s.is_monotonic_increasing
    assert (jobs.gpus == 0).all() and (jobs.runtime_s >= 1).all()


def test_swf_mapping_is_configurable_and_requested_memory_wins() -> None:
    lines = ["; UnixStartTime: 0", _swf_line(1, 0, 10, 4, req_mem=1024 * 512), _swf_line(2, 5, 0, 2, prev=1)]
    trace = parse_text("\n".join(lines), "swf", "t.swf", TraceMapping(vcpus_per_processor=2.0))
    one, two = trace.jobs.iloc[0], trace.jobs.iloc[1]
    assert one.vcpus == 8.0 and one.memory_mib == 4 * 512.0  # KB per processor x processors
    assert two.memory_mib == 4 * 2048.0 and two.runtime_s == 1.0  # min_runtime_s
    assert two.depends_on == ["1"]  # SWF preceding job becomes a dependency
    assert trace.mapping_json()["vcpus_per_processor"] == 2.0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("1 2 3", "t.swf line 2: expected 18 fields, found 3"),
        (_swf_line(1, 0, 10, 4).replace(" 10 ", " ten ", 1), "t.swf line 2: field 4: not a number: 'ten'"),
        (_swf_line(1, -5, 10, 4), "t.swf line 2: field 2 (submit time): negative"),
    ],
)
def test_swf_malformed_line_names_file_and_line(line: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_text(f"; comment\n{line}\n", "swf", "t.swf")


def test_swf_reads_gzip_and_plain(tmp_path: Path) -> None:
    text = "\n".join([_swf_line(7, 0, 10, 1), _swf_line(8, 1, 10, 1)])
    plain, packed = tmp_path / "a.swf", tmp_path / "b.swf.gz"
    plain.write_text(text)
    packed.write_bytes(gzip.compress(text.encode()))
    assert read_trace(plain, "swf").jobs.equals(read_trace(packed, "swf").jobs)


def test_alibaba_gpu_pods_map_to_whole_gpus_and_skip_unscheduled() -> None:
    trace = read_trace(shared(ALIBABA), "alibaba-gpu")
    assert trace.skipped == {"never scheduled": 402}
    jobs = trace.jobs.set_index("job_id")
    pod = jobs.loc["openb-pod-0001"]  # 6000 cpu_milli, 12288 MiB, 1 GPU at gpu_milli 460
    assert (pod.vcpus, pod.memory_mib, pod.gpus, pod.gpu_milli) == (6.0, 12288.0, 1, 460.0)
    assert pod.runtime_s == 12902960 - 427061 and pod.queue == "LS"
    assert set(jobs.queue) == {"LS", "BE", "Burstable", "Guaranteed"}


def test_alibaba_bad_value_names_line_and_column() -> None:
    text = (
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n"
        "p0,1000,1024,1,1000,,LS,Running,0,10,0\n"
        "p1,lots,1024,1,1000,,LS,Running,0,10,0\n"
    )
    with pytest.raises(InputError, match=r"pods.csv line 3: field 'cpu_milli': not a number: 'lots'"):
        parse_text(text, "alibaba-gpu", "pods.csv")


def _describe_job(job_id: str, created: int, runtime_ms: int, **extra: object) -> dict:
    job = {
        "jobId": job_id,
        "jobName": f"n-{job_id}",
        "jobQueue": "arn:aws:batch:us-east-1:012345678910:job-queue/HighPriority",
        "status": "SUCCEEDED",
        "createdAt": created,
        "startedAt": created + 1000,
        "stoppedAt": created + 1000 + runtime_ms,
        "container": {"vcpus": 1, "memory": 128},
    }
    job.update(extra)
    return job


def test_batch_json_accepts_response_list_and_json_lines() -> None:
    a = _describe_job("a", 1_480_460_782_010, 64_189)
    b = _describe_job(
        "b",
        1_480_460_792_010,
        5000,
        dependsOn=[{"jobId": "a"}],
        retryStrategy={"attempts": 3, "evaluateOnExit": [{"onStatusReason": "Host EC2*", "action": "RETRY"}]},
        container={
            "resourceRequirements": [{"type": "VCPU", "value": "2"}, {"type": "MEMORY", "value": "4096"}]
        },
    )
    running = {**_describe_job("c", 1_480_460_792_010, 0), "status": "RUNNING"}
    del running["stoppedAt"]
    response = parse_text(json.dumps({"jobs": [a, b, running]}), "batch-json", "r.json")
    as_list = parse_text(json.dumps([a, b, running]), "batch-json", "r.json")
    as_lines = parse_text("\n".join(json.dumps(j) for j in (a, b, running)), "batch-json", "r.json")
    assert response.jobs.equals(as_list.jobs) and response.jobs.equals(as_lines.jobs)
    jobs = response.jobs.set_index("job_id")
    assert response.skipped == {"not finished": 1}
    assert jobs.loc["a"].queue == "HighPriority" and jobs.loc["a"].runtime_s == pytest.approx(64.189)
    assert jobs.loc["b"].submit_s == 10.0
    assert jobs.loc["b"].vcpus == 2.0 and jobs.loc["b"].memory_mib == 4096.0
    assert jobs.loc["b"].depends_on == ["a"] and jobs.loc["b"].retry_attempts == 3
    assert response.start_time is not None and response.start_time.isoformat() == "2016-11-29T23:06:22.010000"


def test_batch_json_real_botocore_example_parses() -> None:
    path = shared("aws-api-fixtures/botocore-examples/batch_2016-08-10_examples-1.json")
    examples = json.loads(path.read_text())
    output = examples["examples"]["DescribeJobs"][0]["output"]
    trace = parse_text(json.dumps(output), "batch-json", "examples.json")
    job = trace.jobs.iloc[0]
    assert job.job_id == "24fa2d7a-64c4-49d2-8b47-f8da4fbde8e9"
    assert job.runtime_s == pytest.approx(64.199) and job.vcpus == 1.0 and job.memory_mib == 128.0


def test_batch_json_errors_name_the_line() -> None:
    good = json.dumps(_describe_job("a", 1000, 1000))
    with pytest.raises(InputError, match=r"x.jsonl line 2: invalid JSON"):
        parse_text(good + "\n{not json\n", "batch-json", "x.jsonl")
    bad = json.dumps(_describe_job("b", 1000, 1000, container={"vcpus": "one", "memory": 5}))
    with pytest.raises(InputError, match=r"x.jsonl line 2 \(job b\): field 'container.vcpus'"):
        parse_text(good + "\n" + bad + "\n", "batch-json", "x.jsonl")


def test_csv_documented_columns_and_errors() -> None:
    text = (
        "job_id,submit_s,runtime_s,vcpus,memory_mib,gpus,queue,depends_on,extra\n"
        "j1,0,60,2,4096,,high,,ignored\n"
        "j2,5,30,1,2048,1,,j1,\n"
    )
    jobs = parse_text(text, "csv", "jobs.csv").jobs.set_index("job_id")
    assert jobs.loc["j1"].queue == "high" and jobs.loc["j2"].queue == "default"
    assert jobs.loc["j2"].gpus == 1 and jobs.loc["j2"].depends_on == ["j1"]
    with pytest.raises(InputError, match=r"jobs.csv line 3: field 'vcpus': must be a positive number: '0'"):
        parse_text(text.replace("j2,5,30,1,", "j2,5,30,0,"), "csv", "jobs.csv")
    with pytest.raises(InputError, match=r"jobs.csv line 1: missing column\(s\) memory_mib"):
        parse_text("job_id,submit_s,runtime_s,vcpus\n", "csv", "jobs.csv")


def test_unknown_format_empty_file_and_bad_mapping() -> None:
    with pytest.raises(InputError, match="trace format 'parquet'"):
        parse_text("", "parquet", "x")
    with pytest.raises(InputError, match=r"x\.swf: no replayable jobs"):
        parse_text("; only comments\n", "swf", "x.swf")
    with pytest.raises(ConfigError, match="memory_mib_per_vcpu"):
        TraceMapping(memory_mib_per_vcpu=0)


def test_batch_json_sums_ecs_properties_containers_and_skips_eks_jobs() -> None:
    ecs = _describe_job("ecs", 1000, 5000)
    del ecs["container"]
    ecs["ecsProperties"] = {
        "taskProperties": [
            {
                "containers": [
                    {
                        "resourceRequirements": [
                            {"type": "VCPU", "value": "1"},
                            {"type": "MEMORY", "value": "2048"},
                        ]
                    },
                    {
                        "resourceRequirements": [
                            {"type": "VCPU", "value": "0.5"},
                            {"type": "MEMORY", "value": "512"},
                        ]
                    },
                ]
            }
        ]
    }
    eks = {**_describe_job("eks", 1000, 5000), "eksProperties": {"podProperties": {}}}
    trace = parse_text(json.dumps([ecs, eks]), "batch-json", "e.json")
    job = trace.jobs.iloc[0]
    assert (job.job_id, job.vcpus, job.memory_mib) == ("ecs", 1.5, 2560.0)
    assert trace.skipped == {"EKS job": 1}
