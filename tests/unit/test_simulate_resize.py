import pandas as pd
import pytest

from optimizer.errors import InputError
from optimizer.simulate.resize import format_resize, parse_resize, resize_definitions


def _jobs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "job_id": ["a", "b", "c"],
            "vcpus": [4.0, 4.0, 2.0],
            "memory_mib": [16384.0, 8192.0, 4096.0],
            "job_definition_name": ["align", "align", "qc"],
        }
    )


def test_only_the_named_definition_and_fields_change() -> None:
    jobs = _jobs()
    edited, changed = resize_definitions(jobs, {"align": {"memory_mib": 6144}})
    assert changed == 2
    assert edited["memory_mib"].tolist() == [6144.0, 6144.0, 4096.0]
    assert edited["vcpus"].tolist() == [4.0, 4.0, 2.0]  # a per-job override of vCPUs is kept
    assert jobs["memory_mib"].tolist() == [16384.0, 8192.0, 4096.0]  # input untouched


def test_argument_round_trip_and_errors() -> None:
    name, values = parse_resize("ns:align:memory_mib=6144,vcpus=2")
    assert (name, values) == ("ns:align", {"memory_mib": 6144.0, "vcpus": 2.0})
    assert parse_resize(format_resize(name, values)) == (name, values)
    for bad in ("align", "align:memory=1", "align:memory_mib=x", "align:vcpus=0"):
        with pytest.raises(InputError, match="--resize"):
            parse_resize(bad)
    with pytest.raises(InputError, match="job definition names"):
        resize_definitions(_jobs().drop(columns="job_definition_name"), {"align": {"vcpus": 1}})
