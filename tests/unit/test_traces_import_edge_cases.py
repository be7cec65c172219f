"""Trace import edge cases from real exports: byte-order marks, Latin-1 SWF headers, millisecond
epochs, checkpointed and never-started SWF jobs, used memory, missing columns, exact numbers."""

from __future__ import annotations

import codecs
import re
from datetime import datetime
from pathlib import Path

import pytest

from optimizer.errors import InputError
from optimizer.simulate.datasets import trace_job_rows
from optimizer.traces import read_trace
from optimizer.traces.files import parse_text

ALIBABA_HEADER = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time"
)


def _swf(
    job: int,
    *,
    run: int = 10,
    alloc: int = 4,
    req_procs: int = 4,
    status: int = 1,
    used_kb: int = -1,
    req_kb: int = -1,
) -> str:
    """One SWF data line: job, submit 0, wait 0, run, allocated, cpu -1, used memory, requested ..."""
    fields = [job, 0, 0, run, alloc, -1, used_kb, req_procs, 3600, req_kb, status, 3, 3, -1, 1, -1, -1, -1]
    return " ".join(str(f) for f in fields)


def test_utf8_byte_order_mark_is_dropped_for_swf_and_alibaba(tmp_path: Path) -> None:
    swf, pods = tmp_path / "excel.swf", tmp_path / "excel.csv"
    swf.write_bytes(codecs.BOM_UTF8 + f"{_swf(1)}\n".encode())
    pods.write_bytes(
        codecs.BOM_UTF8
        + f"{ALIBABA_HEADER},scheduled_time\r\np0,1000,1024,0,0,,LS,Running,0,10,2\r\n".encode()
    )
    assert read_trace(swf, "swf").jobs["job_id"].tolist() == ["1"]
    assert read_trace(pods, "alibaba-gpu").jobs["runtime_s"].tolist() == [8.0]


def test_swf_comment_lines_may_be_latin1_but_data_lines_must_be_utf8(tmp_path: Path) -> None:
    header = "; Acknowledge: Dalibor Klus\xe1\xe8ek\n; UnixStartTime: 843480031\n".encode("latin-1")
    good, bad = tmp_path / "good.swf", tmp_path / "bad.swf"
    good.write_bytes(header + f"{_swf(1)}\n".encode())
    trace = read_trace(good, "swf")
    assert trace.jobs["job_id"].tolist() == ["1"] and trace.start_time == datetime(1996, 9, 23, 12, 0, 31)
    bad.write_bytes(header + f"{_swf(1)} \xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"bad\.swf line 3: not UTF-8 text"):
        read_trace(bad, "swf")


def test_swf_start_time_in_milliseconds_is_a_one_line_error() -> None:
    text = f"; Version: 2.2\n; UnixStartTime: 843480031000\n{_swf(1)}\n"
    message = (
        r"t\.swf line 2: header UnixStartTime: 843480031000 is out of range \(seconds since 1970 expected\)"
    )
    with pytest.raises(InputError, match=message):
        parse_text(text, "swf", "t.swf")


def test_swf_checkpointed_job_is_its_summary_line_and_partials_are_counted() -> None:
    lines = [
        _swf(1, run=100, status=1),  # summary of job 1, then its two partial executions
        _swf(1, run=60, status=2),
        _swf(1, run=40, status=3),
        _swf(2, run=30, status=2),  # a partial line before its summary line
        _swf(2, run=50, status=0),
        _swf(3, run=20, status=4),  # a partial line without a summary line: the job itself
    ]
    trace = parse_text("\n".join(lines), "swf", "t.swf")
    jobs = trace.jobs.set_index("job_id")
    assert sorted(jobs.index) == ["1", "2", "3"]
    assert (jobs.loc["1"].runtime_s, jobs.loc["2"].runtime_s, jobs.loc["3"].runtime_s) == (100.0, 50.0, 20.0)
    # (status 4: the last part of a checkpointed job that failed, per the SWF standard)
    assert (jobs.loc["2"].status, jobs.loc["3"].status) == ("FAILED", "FAILED")
    assert trace.skipped == {"checkpoint partial": 3}
    with pytest.raises(InputError, match=r"t\.swf line 2: field 1 \(job number\): duplicate job 1"):
        parse_text("\n".join([_swf(1, status=1), _swf(1, status=0)]), "swf", "t.swf")


def test_swf_job_cancelled_before_it_started_is_skipped_not_a_one_second_job() -> None:
    lines = [
        _swf(1, run=0, alloc=0, req_procs=64, status=5),
        _swf(2, run=-1, alloc=-1, req_procs=64, status=5),
        _swf(3, run=30, alloc=4, status=5),  # cancelled while running: it held its processors
    ]
    trace = parse_text("\n".join(lines), "swf", "t.swf")
    assert trace.jobs["job_id"].tolist() == ["3"]
    assert trace.skipped == {"cancelled before start": 2}


def test_swf_no_replayable_jobs_error_gives_the_skip_counts() -> None:
    lines = [_swf(1, run=0, alloc=0, status=5), _swf(2, run=-1, status=1), _swf(3, alloc=0, req_procs=-1)]
    message = r"t\.swf: no replayable jobs in the file \(skipped: 1 runtime unknown, 1 processors unknown, "
    with pytest.raises(InputError, match=message + r"1 cancelled before start\)$"):
        parse_text("\n".join(lines), "swf", "t.swf")


def test_swf_used_memory_is_the_ask_when_requested_memory_is_unknown() -> None:
    # 1000 KB per processor x 3 processors = 2.93 MiB, stored as 3 MiB whichever field gave it.
    lines = [
        _swf(1, alloc=3, used_kb=1000),
        _swf(2, alloc=3, req_kb=1000),
        _swf(3, alloc=3, used_kb=1000, req_kb=500),
    ]
    trace = parse_text("\n".join([*lines, _swf(4, alloc=3)]), "swf", "t.swf")
    assert trace.jobs["memory_mib"].tolist() == [3000 / 1024, 3000 / 1024, 1500 / 1024, 3 * 2048.0]
    rows = trace_job_rows(trace, "d", datetime(2024, 1, 1))
    assert rows["memory_mib"].tolist() == [3, 3, 2, 6144]


def test_alibaba_without_scheduled_time_column_names_it() -> None:
    text = f"{ALIBABA_HEADER}\np0,1000,1024,0,0,,LS,Running,0,10\n"
    with pytest.raises(InputError, match=r"pods\.csv line 1: missing column\(s\) scheduled_time$"):
        parse_text(text, "alibaba-gpu", "pods.csv")


@pytest.mark.parametrize(
    ("deleted", "scheduled", "shown"),
    [
        ("9957352", "9957353", "9957352 is before scheduled_time 9957353"),
        ("10.25", "10.5", "10.25 is before .* 10.5"),
    ],
)
def test_alibaba_time_error_shows_numbers_at_full_precision(deleted: str, scheduled: str, shown: str) -> None:
    text = f"{ALIBABA_HEADER},scheduled_time\np0,1000,1024,0,0,,LS,Running,0,{deleted},{scheduled}\n"
    with pytest.raises(InputError, match=rf"pods\.csv line 2: field 'deletion_time': {shown}$"):
        parse_text(text, "alibaba-gpu", "pods.csv")


def test_swf_preceding_job_is_a_dependency_only_when_it_succeeded() -> None:
    """Batch fails a job whose dependency failed; the log's job ran after its failed predecessor."""
    lines = [
        "1 0 0 60 1 -1 -1 1 60 -1 1 -1 -1 -1 -1 -1 -1 -1",  # succeeded
        "2 100 0 60 1 -1 -1 1 60 -1 0 -1 -1 -1 -1 -1 1 -1",  # after 1; failed
        "3 200 0 60 1 -1 -1 1 60 -1 1 -1 -1 -1 -1 -1 2 -1",  # after 2, which failed: ran anyway
    ]
    jobs = parse_text("\n".join(lines), "swf", "t.swf").jobs.set_index("job_id")
    assert jobs.loc["2"].depends_on == ["1"]
    assert jobs.loc["3"].depends_on == []


@pytest.mark.parametrize(
    ("rows", "start", "message"),
    [
        # a runtime in microseconds read as seconds: the job would stop in the year 33658
        (
            "j0,0,10\nj1,0,1e12\n",
            datetime(1970, 1, 1),
            "job j1: submit_s 0 + runtime_s 1000000000000 from 1970-01-01",
        ),
        ("j1,1e300,10\n", datetime(1970, 1, 1), "job j1: submit_s 1e+300 + runtime_s 10"),
        ("j1,0,10\n", datetime(9999, 1, 1), "time zero 9999-01-01 00:00:00: must lie in 1970-2199"),
    ],
)
def test_jobs_that_would_stop_after_2199_are_refused_naming_the_job(
    rows: str, start: datetime, message: str
) -> None:
    # Stored, such a job broke `simulate` and `train` on its dataset with a pandas traceback.
    trace = parse_text(
        "job_id,submit_s,runtime_s,vcpus,memory_mib\n"
        + "".join(f"{line},2,4096\n" for line in rows.strip().splitlines()),
        "csv",
        "t.csv",
    )
    with pytest.raises(
        InputError, match="^" + re.escape(("" if "time zero" in message else "t.csv: ") + message)
    ):
        trace_job_rows(trace, "d", start)
