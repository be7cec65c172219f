"""EFA support in the catalogue: collected from recorded DescribeInstanceTypes responses into the
store, read back by the one catalogue provider, and offered by the demo emulator as AWS does."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from botocore.stub import Stubber
from moto.ec2.models.instance_types import INSTANCE_TYPES
from sqlalchemy import Engine

from optimizer.catalog.from_store import catalog_for_region
from optimizer.collectors import select_sources
from optimizer.collectors.runner import collect
from optimizer.data.build_snapshots import moto_instance_types, read_efa_support
from optimizer.demo.emulator import Emulator
from optimizer.solver.build import offerings_from_catalog
from optimizer.store.read import catalog_frame, read_frame
from optimizer.store.schema import ondemand_prices
from optimizer.store.upsert import bulk_upsert
from tests.collect_helpers import REGION, emulator_plan, fixed_plan
from tests.data_paths import AWS_FIXTURES
from tests.demo_helpers import NOW


def _drop_nulls(value: Any) -> Any:
    """The recordings come from the Go SDK, which writes absent members as null; the wire omits them."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _recorded_group() -> list[dict[str, Any]]:
    """ec2-instance-selector's recorded page: six types with EfaSupported false, g2.2xlarge without
    the member (recorded before DescribeInstanceTypes had it for that type)."""
    path = AWS_FIXTURES / "ec2-instance-selector" / "DescribeInstanceTypes_g2_2xlarge_group.json"
    return _drop_nulls(json.loads(path.read_text()))["InstanceTypes"]


def _moto_recorded(name: str) -> dict[str, Any]:
    """One item of the DescribeInstanceTypes output moto ships (recorded from AWS)."""
    return {"InstanceType": name, **INSTANCE_TYPES[name]}


def _collect_stubbed(engine: Engine, pages: list[list[dict[str, Any]]]) -> int:
    """Run the catalog collector on these DescribeInstanceTypes pages; the rows it wrote."""
    ec2 = boto3.client("ec2", region_name=REGION)
    stubber = Stubber(ec2)
    stubber.activate()
    for i, page in enumerate(pages):
        response: dict[str, Any] = {"InstanceTypes": page}
        if i + 1 < len(pages):
            response["NextToken"] = f"t{i + 1}"
        stubber.add_response("describe_instance_types", response, {"NextToken": f"t{i}"} if i else None)
    offerings = {"InstanceTypeOfferings": []}
    stubber.add_response("describe_instance_type_offerings", offerings, {"LocationType": "availability-zone"})
    [result] = collect(engine, [fixed_plan("prod", {"ec2": ec2})], select_sources(["catalog"]))
    stubber.assert_no_pending_responses()
    assert result.status == "succeeded", result
    return int(result.items_written)


def test_collector_stores_efa_support_true_false_and_unknown(store_engine: Engine) -> None:
    group = _recorded_group()
    assert [i["InstanceType"] for i in group if "EfaSupported" not in i["NetworkInfo"]] == ["g2.2xlarge"]
    assert _collect_stubbed(store_engine, [group, [_moto_recorded("c5n.18xlarge")]]) == len(group) + 1

    stored = catalog_frame(store_engine, REGION).set_index("instance_type")["efa_supported"]
    assert stored["c5n.18xlarge"] == True  # noqa: E712 - the store's boolean, not identity
    assert stored["c5.2xlarge"] == False  # noqa: E712
    assert stored["inf1.2xlarge"] == False  # noqa: E712
    assert pd.isna(stored["g2.2xlarge"])  # not in the response: unknown, not "no"

    # A second collection of the same responses changes nothing (the upsert compares the new column).
    assert _collect_stubbed(store_engine, [group, [_moto_recorded("c5n.18xlarge")]]) == 0


def test_collected_efa_reaches_the_offerings(sqlite_engine: Engine) -> None:
    """The provider built from the store (what `optimize --queue` uses) offers EFA only where the
    collector saw `EfaSupported: true`; unknown (g2.2xlarge) and false offer none. Bandwidth is the
    collected number, not EC2's text."""
    _collect_stubbed(sqlite_engine, [_recorded_group(), [_moto_recorded("c5n.18xlarge")]])
    prices = pd.DataFrame(
        {
            "region": REGION,
            "instance_type": ["c5n.18xlarge", "c5.2xlarge", "g2.2xlarge"],
            "effective_date": pd.Timestamp("2026-07-20"),
            "price_per_hour": [3.888, 0.34, 0.65],  # the bundled price list's us-east-1 prices
            "source": "snapshot",
        }
    )
    with sqlite_engine.begin() as conn:
        bulk_upsert(conn, ondemand_prices, prices)
    assert len(read_frame(sqlite_engine, ondemand_prices.select())) == 3
    catalog = catalog_for_region(sqlite_engine, REGION)
    offered = {o.instance_type: o for o in offerings_from_catalog(catalog, spot=False)}
    assert {t: o.efa for t, o in offered.items()} == {
        "c5n.18xlarge": True,
        "c5.2xlarge": False,
        "g2.2xlarge": False,
    }
    # Bandwidth is the cards' baseline, capped by a stated figure: c5n.18xlarge "100 Gigabit". The
    # older recording has no network cards: "Up to 10 Gigabit" (a burst) and "Moderate" leave
    # c5.2xlarge and g2.2xlarge unknown, which meets no bandwidth need.
    assert offered["c5n.18xlarge"].network_gbps == 100.0
    assert offered["c5.2xlarge"].network_gbps is None
    assert offered["g2.2xlarge"].network_gbps is None
    assert pd.isna(catalog.row("g2.2xlarge")["efa_supported"])  # unknown, said as unknown


def test_snapshot_efa_column_is_the_recorded_value(tmp_path: Path) -> None:
    """The bundled price snapshot's `efa_supported` is exactly what the recording says, type by type
    (absent where the recording has no item), so nothing in it is guessed."""
    from optimizer.catalog.files import load_price_snapshot

    recording = moto_instance_types()
    assert recording is not None
    recorded = read_efa_support(recording)
    snapshot = load_price_snapshot().set_index("instance_type")["efa_supported"]
    for name, value in snapshot.items():
        if name in recorded and recorded[name] is not None:
            assert value == recorded[name], name
        else:
            assert value is pd.NA, name
    # The reader takes a plain DescribeInstanceTypes response too (the recorded fixture page).
    page = tmp_path / "page.json.gz"
    page.write_bytes(gzip.compress(json.dumps({"InstanceTypes": _recorded_group()}).encode()))
    assert read_efa_support(page)["c5.2xlarge"] is False
    assert read_efa_support(page)["g2.2xlarge"] is None


@pytest.mark.emulator
@pytest.mark.xdist_group("demo")
def test_demo_emulator_describes_efa_as_aws_does(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with Emulator(NOW) as emulator:
        ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.endpoint_url)
        described = ec2.describe_instance_types(InstanceTypes=["c5n.18xlarge", "m5.large", "hpc7a.96xlarge"])
        got = {i["InstanceType"]: i["NetworkInfo"].get("EfaSupported") for i in described["InstanceTypes"]}
        assert got == {n: INSTANCE_TYPES[n]["NetworkInfo"]["EfaSupported"] for n in got}
        assert got == {"c5n.18xlarge": True, "m5.large": False, "hpc7a.96xlarge": True}
        efa = ec2.describe_instance_types(InstanceTypes=["c5n.18xlarge"])["InstanceTypes"][0]["NetworkInfo"]
        assert efa["EfaInfo"]["MaximumEfaInterfaces"] >= 1

        [result] = collect(sqlite_engine, [emulator_plan(emulator.endpoint_url)], select_sources(["catalog"]))
    assert result.status == "succeeded"
    stored = catalog_frame(sqlite_engine, REGION).set_index("instance_type")["efa_supported"]
    assert stored["c5n.18xlarge"] == True and stored["m5.large"] == False  # noqa: E712


def test_baseline_bandwidth_from_recorded_items() -> None:
    """The recorded DescribeInstanceTypes items: cards summed (p5.48xlarge, 32 cards of 100 Gbit/s,
    "3200 Gigabit"), capped by a stated figure (c6in.32xlarge: two 200 Gbit/s cards, "200 Gigabit"),
    the baseline under a burst figure (m5.large: 0.75 of "Up to 10 Gigabit")."""
    from optimizer.catalog.network import baseline_bandwidth_mbps

    cards = {n: [c["BaselineBandwidthInGbps"] for c in INSTANCE_TYPES[n]["NetworkInfo"]["NetworkCards"]]
             for n in ("p5.48xlarge", "c6in.32xlarge", "m5.large")}  # fmt: skip
    assert (len(cards["p5.48xlarge"]), cards["c6in.32xlarge"], cards["m5.large"]) == (
        32,
        [200.0, 200.0],
        [0.75],
    )
    got = {n: baseline_bandwidth_mbps(_moto_recorded(n)) for n in cards}
    assert got == {"p5.48xlarge": 3_200_000, "c6in.32xlarge": 200_000, "m5.large": 750}


def test_a_price_the_api_gave_outranks_a_later_dated_snapshot_row_and_cny_is_refused(
    store_engine: Engine,
) -> None:
    """The collector stores the bundled snapshot when the Price List API fails (dated by the
    snapshot); AWS dates its on-demand terms from the month's start. The API's price must win."""
    from datetime import datetime

    from optimizer.errors import InputError
    from optimizer.store.schema import instance_types
    from tests.solver_helpers import catalogue_rows

    types, snapshot = catalogue_rows([("m5.large", 2, 8192, 0.096), ("m5.xlarge", 4, 16384, 0.192)])
    snapshot = [{**row, "effective_date": datetime(2026, 7, 20), "currency": "USD"} for row in snapshot]
    api = {
        "region": "us-east-1", "instance_type": "m5.large", "effective_date": datetime(2026, 7, 1),
        "price_per_hour": 0.0864, "source": "pricing-api", "currency": "USD",
    }  # fmt: skip
    with store_engine.begin() as conn:
        bulk_upsert(conn, instance_types, types)
        bulk_upsert(conn, ondemand_prices, [*snapshot, api])
    prices = catalog_frame(store_engine, "us-east-1").set_index("instance_type")["price_per_hour"]
    assert prices.to_dict() == {"m5.large": 0.0864, "m5.xlarge": 0.192}  # (no API row: the snapshot)
    cny = {**api, "region": "cn-north-1", "price_per_hour": 0.87, "currency": "CNY"}
    with store_engine.begin() as conn:
        bulk_upsert(conn, ondemand_prices, [cny])
    with pytest.raises(
        InputError, match="on-demand prices of cn-north-1 are in CNY: batchopt computes in USD"
    ):
        catalog_frame(store_engine, "cn-north-1")
