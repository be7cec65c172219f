"""Trace parser properties: valid files round-trip, and any corrupted line is reported by number."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.errors import InputError
from optimizer.traces.files import parse_text

rows = st.lists(
    st.tuples(
        st.integers(0, 10**7),  # submit
        st.integers(0, 10**6),  # run
        st.integers(1, 128),  # processors
        st.sampled_from([0, 1, 5]),  # status
    ),
    min_size=1,
    max_size=30,
)


def _swf(jobs: list[tuple[int, int, int, int]]) -> list[str]:
    lines = ["; UnixStartTime: 843480031"]
    for k, (submit, run, procs, status) in enumerate(jobs, start=1):
        lines.append(f"{k} {submit} 0 {run} {procs} -1 -1 {procs} 3600 -1 {status} 1 1 -1 1 -1 -1 -1")
    return lines


@settings(max_examples=40, deadline=None)
@given(jobs=rows)
def test_swf_rows_round_trip(jobs: list[tuple[int, int, int, int]]) -> None:
    trace = parse_text("\n".join(_swf(jobs)), "swf", "p.swf")
    # A job over 64 processors is several node rows (`mnp_parent`); fold them back into one job.
    batch_job = trace.jobs["mnp_parent"].fillna(trace.jobs["job_id"])
    frame = (
        trace.jobs.assign(batch_job=batch_job.astype(int))
        .groupby("batch_job", sort=True)
        .agg(
            submit_s=("submit_s", "first"),
            runtime_s=("runtime_s", "first"),
            vcpus=("vcpus", "sum"),
            nodes=("job_id", "size"),
            status=("status", "first"),
        )
    )
    assert frame["submit_s"].tolist() == [float(j[0]) for j in jobs]
    assert frame["runtime_s"].tolist() == [float(max(j[1], 1)) for j in jobs]
    assert frame["nodes"].tolist() == [-(-j[2] // 64) for j in jobs]
    # Each node asks for a whole-vCPU share: never less than the job, at most one vCPU more per node.
    for (vcpus, nodes), job in zip(frame[["vcpus", "nodes"]].itertuples(index=False), jobs, strict=True):
        assert job[2] <= vcpus < job[2] + nodes
    assert frame["status"].tolist() == [{1: "SUCCEEDED", 0: "FAILED", 5: "FAILED"}[j[3]] for j in jobs]


@settings(max_examples=40, deadline=None)
@given(jobs=rows, data=st.data())
def test_a_corrupted_swf_line_is_named_by_its_number(
    jobs: list[tuple[int, int, int, int]], data: st.DataObject
) -> None:
    lines = _swf(jobs)
    k = data.draw(st.integers(1, len(lines) - 1))
    fields = lines[k].split()
    fields[data.draw(st.integers(0, len(fields) - 1))] = data.draw(st.sampled_from(["x", "1e", "--", "nan"]))
    lines[k] = " ".join(fields)
    with pytest.raises(InputError, match=rf"^p\.swf line {k + 1}: field \d+"):
        parse_text("\n".join(lines), "swf", "p.swf")


@settings(max_examples=40, deadline=None)
@given(
    table=st.lists(
        st.tuples(
            st.floats(0, 1e7, allow_nan=False),
            st.floats(1, 1e6, allow_nan=False),
            st.sampled_from([0.25, 1.0, 2.0, 96.0]),
            st.integers(1, 10**6),
            st.integers(0, 8),
            st.sampled_from(["", "q1", "gpu"]),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_csv_round_trips(table: list[tuple]) -> None:
    frame = pd.DataFrame(table, columns=["submit_s", "runtime_s", "vcpus", "memory_mib", "gpus", "queue"])
    frame.insert(0, "job_id", [f"j{k}" for k in range(len(frame))])
    parsed = (
        parse_text(frame.to_csv(index=False), "csv", "t.csv").jobs.set_index("job_id").loc[frame["job_id"]]
    )
    assert parsed["submit_s"].tolist() == frame["submit_s"].tolist()
    assert parsed["runtime_s"].tolist() == frame["runtime_s"].tolist()
    assert parsed["memory_mib"].tolist() == frame["memory_mib"].astype(float).tolist()
    assert parsed["gpus"].tolist() == frame["gpus"].tolist()
    assert parsed["queue"].tolist() == [q or "default" for q in frame["queue"]]
