"""Alibaba cluster-trace-gpu-v2020 task table (`--format alibaba-pai-2020`): the published layout (no
header row) and the same with its header line, the mapping of instances, percent CPUs and GPUs and GB
of memory to Batch jobs, skipped tasks counted by reason, one-line errors, and import-trace through
optimize on a SQLite store."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import pytest

from optimizer.cli.main import main
from optimizer.errors import InputError
from optimizer.traces import TraceMapping, read_trace
from optimizer.traces.alibaba_pai_2020 import COLUMNS
from optimizer.traces.files import parse_text

HEADER = ",".join(COLUMNS)
FMT = "alibaba-pai-2020"

# job_name, task_name, inst_num, status, start_time, end_time, plan_cpu, plan_mem, plan_gpu, gpu_type
ROWS = [
    "0a1b,worker,2.0,Terminated,1739162.0,1739762.0,600.0,29.296875,50.0,V100",
    "0a1b,ps,1.0,Terminated,1739162.0,1739162.0,50.0,,,",
    "0c2d,PyTorchWorker,1.0,Failed,1739200.0,1739260.0,1200.0,117.1875,800.0,V100M32",
    "0e3f,worker,1.0,Waiting,1739300.0,,600.0,29.296875,100.0,",
    "0f4a,tensorflow,1.0,Running,1739400.0,,400.0,16.0,100.0,P100",
    "0b5c,worker,1.0,Terminated,1739500.0,1739800.0,800.0,0.0,150.0,T4",
]


def _text(rows: list[str], *, header: bool) -> str:
    return "\n".join(([HEADER] if header else []) + rows) + "\n"


@pytest.mark.parametrize("header", [False, True], ids=["published-no-header", "with-header"])
def test_tasks_become_one_job_per_instance_with_batch_units(header: bool) -> None:
    trace = parse_text(_text(ROWS, header=header), FMT, "pai_task_table.csv")
    jobs = trace.jobs.set_index("job_id")
    assert trace.format == FMT and trace.start_time is None
    # The 2-instance task is 2 jobs with the task's times and per-instance requests.
    assert list(jobs.index) == [
        "0a1b.worker.0",
        "0a1b.worker.1",
        "0a1b.ps.0",
        "0c2d.PyTorchWorker.0",
        "0b5c.worker.0",
    ]
    for i in (0, 1):
        worker = jobs.loc[f"0a1b.worker.{i}"]
        assert (worker.submit_s, worker.runtime_s) == (1739162.0, 600.0)
        # 600 % CPU, 29.296875 GB, 50 % of a GPU -> 6 vCPUs, 30,000 MiB, one whole GPU.
        assert (worker.vcpus, worker.memory_mib, worker.gpus, worker.gpu_milli) == (6.0, 30000.0, 1, 500.0)
        assert (worker.job_name, worker.queue, worker.arch, worker.status) == (
            "0a1b",
            "default",
            "x86_64",
            "SUCCEEDED",
        )
        assert math.isnan(worker.wait_s)  # the task table has no submit time apart from the start
    ps = jobs.loc["0a1b.ps.0"]  # a CPU task: no plan_mem, no plan_gpu; a zero-length run
    assert (ps.vcpus, ps.memory_mib, ps.gpus, ps.gpu_milli, ps.runtime_s) == (0.5, 1024.0, 0, 0.0, 1.0)
    failed = jobs.loc["0c2d.PyTorchWorker.0"]
    assert failed.status == "FAILED" and (failed.vcpus, failed.memory_mib, failed.gpus) == (12.0, 120000.0, 8)
    assert failed.runtime_s == 60.0
    t4 = jobs.loc["0b5c.worker.0"]  # 1.5 GPUs reserve 2; plan_mem 0 falls back to 2 GiB per vCPU
    assert (t4.vcpus, t4.memory_mib, t4.gpus) == (8.0, 8 * 2048.0, 2)
    assert trace.skipped == {"still running at the end of the trace": 1, "waiting (never started)": 1}
    assert trace.mapping_json()["skipped"] == trace.skipped


def test_skipped_counts_are_of_instances_and_cover_missing_and_reversed_times() -> None:
    rows = [
        ROWS[0],
        "1a,worker,3.0,Running,100.0,,100.0,1.0,,",
        "1b,worker,1.0,Terminated,,200.0,100.0,1.0,,",
        "1c,worker,2.0,Failed,100.0,,100.0,1.0,,",
        "1d,worker,1.0,Terminated,300.0,200.0,100.0,1.0,,",
    ]
    trace = parse_text(_text(rows, header=False), FMT, "pai.csv")
    assert len(trace.jobs) == 2
    assert trace.skipped == {
        "still running at the end of the trace": 3,
        "no start or end time": 3,
        "ended before it started": 1,
    }


def test_mapping_scales_cpus_memory_and_queue_and_fractional_gpus_stay_whole() -> None:
    mapping = TraceMapping(
        vcpus_per_processor=2.0, memory_mib_per_vcpu=1024.0, default_queue="pai", gpu_whole=False
    )
    trace = parse_text(_text([ROWS[0], ROWS[5]], header=True), FMT, "pai.csv", mapping)
    jobs = trace.jobs.set_index("job_id")
    assert (jobs.loc["0a1b.worker.0", "vcpus"], jobs.loc["0a1b.worker.0", "gpus"]) == (12.0, 1)
    assert jobs.loc["0b5c.worker.0", "memory_mib"] == 16 * 1024.0  # 8 cores x 2 vCPUs x 1 GiB
    assert set(jobs.queue) == {"pai"} and trace.mapping_json()["vcpus_per_processor"] == 2.0


def test_gzip_file_and_blank_lines_read_like_plain(tmp_path: Path) -> None:
    plain, packed = tmp_path / "pai_task_table.csv", tmp_path / "pai_task_table.csv.gz"
    plain.write_text(_text(ROWS[:3], header=False) + "\n")
    packed.write_bytes(gzip.compress(_text(ROWS[:3], header=True).encode()))
    assert read_trace(plain, FMT).jobs.equals(read_trace(packed, FMT).jobs)


def _good(**changes: str) -> str:
    fields = dict(zip(COLUMNS, ROWS[0].split(","), strict=True))
    fields.update(changes)
    return ",".join(fields.values())


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (_good().rsplit(",", 1)[0], "pai.csv line 2: expected 10 fields, found 9"),
        (_good() + ",extra", "pai.csv line 2: expected 10 fields, found 11"),
        (_good(plan_cpu="six"), "pai.csv line 2: field 'plan_cpu': not a number: 'six'"),
        (_good(plan_mem="1e400"), "pai.csv line 2: field 'plan_mem': must be a non-negative number: '1e400'"),
        (_good(end_time="soon"), "pai.csv line 2: field 'end_time': not a number: 'soon'"),
        (
            _good(start_time="-5.0"),
            "pai.csv line 2: field 'start_time': must be a non-negative number: '-5.0'",
        ),
        (
            _good(inst_num="1.5"),
            "pai.csv line 2: field 'inst_num': must be a whole number in [1, 1000000]: '1.5'",
        ),
        (
            _good(inst_num="0.0"),
            "pai.csv line 2: field 'inst_num': must be a whole number in [1, 1000000]: '0.0'",
        ),
        (_good(inst_num=""), "pai.csv line 2: field 'inst_num': must be a whole number in [1, 1000000]: ''"),
        (_good(job_name=""), "pai.csv line 2: field 'job_name': empty"),
        (
            _good(status="Done"),
            "pai.csv line 2: field 'status': must be one of Terminated, Failed, Running, ",
        ),
        (ROWS[1], "pai.csv line 2: field 'task_name': duplicate task 0a1b.ps (first on line 1)"),
    ],
    ids=[
        "9-fields",
        "11-fields",
        "cpu-not-a-number",
        "mem-infinite",
        "end-not-a-number",
        "negative-start",
        "inst-fraction",
        "inst-zero",
        "inst-empty",
        "job-name-empty",
        "unknown-status",
        "duplicate-task",
    ],
)
def test_bad_input_is_a_one_line_error_naming_line_and_field(bad: str, message: str) -> None:
    text = _text([ROWS[1], bad], header=False)
    with pytest.raises(InputError) as caught:
        parse_text(text, FMT, "pai.csv")
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_line_numbers_count_the_header_and_a_wrong_header_is_named() -> None:
    text = _text([ROWS[0], ROWS[1], ROWS[0]], header=True)
    with pytest.raises(
        InputError, match=r"^pai.csv line 4: .*duplicate task 0a1b\.worker \(first on line 2\)$"
    ):
        parse_text(text, FMT, "pai.csv")
    reordered = "job_name,status,task_name" + HEADER.removeprefix("job_name,task_name,status")
    with pytest.raises(InputError, match=r"^pai.csv line 1: header must be job_name,task_name,inst_num,"):
        parse_text(reordered + "\n" + ROWS[0] + "\n", FMT, "pai.csv")


def test_names_with_dots_that_make_the_same_job_id_are_refused() -> None:
    text = _text(
        ["a.b,c,1.0,Terminated,0.0,10.0,100.0,1.0,,", "a,b.c,1.0,Terminated,0.0,10.0,100.0,1.0,,"],
        header=False,
    )
    with pytest.raises(InputError, match=r"^pai.csv: job id a\.b\.c\.0 is made by two tasks"):
        parse_text(text, FMT, "pai.csv")


def test_a_file_of_unreplayable_tasks_says_why_and_a_tar_says_extract(tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match=r"no replayable jobs in the file \(skipped: 1 waiting \(never started\)"
    ):
        parse_text(_text([ROWS[3]], header=False), FMT, "pai.csv")
    archive = tmp_path / "pai_task_table.tar.gz"  # the download is a tar: its header starts line 1
    archive.write_bytes(gzip.compress(b"pai_task_table.csv\x00\x00\x000000644\x00" + ROWS[0].encode()))
    with pytest.raises(InputError, match=r"line 1: binary data, not CSV text \(extract pai_task_table.csv"):
        read_trace(archive, FMT)


def test_import_trace_then_optimize_the_default_queue(
    cli_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Three days of tasks, in the published layout: hourly CPU tasks and a GPU task every 6 hours.
    rows = [f"c{h:04x},worker,2.0,Terminated,{h * 3600.0},{h * 3600.0 + 1800},400.0,8.0,," for h in range(72)]
    rows += [
        f"g{h:04x},worker,1.0,Terminated,{h * 3600.0},{h * 3600.0 + 3000},800.0,58.59375,100.0,V100"
        for h in range(0, 72, 6)
    ]
    rows += [ROWS[3], ROWS[4]]
    trace = tmp_path / "pai_task_table.csv"
    trace.write_text(_text(rows, header=False))
    assert main(["import-trace", "--format", FMT, "--dataset", "pai", str(trace)]) == 0
    printed = capsys.readouterr().out
    assert f"dataset pai: {72 * 2 + 12} jobs imported from {trace} ({FMT})" in printed
    assert "skipped: 1 still running at the end of the trace, 1 waiting (never started)" in printed
    assert main(["optimize", "--dataset", "pai", "--queue", "default", "--days", "30"]) == 0
    printed = capsys.readouterr().out
    assert "stored as fleet plan" in printed

    bad = tmp_path / "bad.csv"
    bad.write_text(_text([ROWS[0], _good(job_name="0zz", plan_gpu="half")], header=False))
    assert main(["import-trace", "--format", FMT, "--dataset", "bad", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"batchopt: error: {bad} line 2: field 'plan_gpu': not a number: 'half'"]
