"""The one catalogue: hazard rule, Batch's aliases and strategies against botocore, what each
instance type is (against recorded DescribeInstanceTypes), requirements, and the replay's use of
the ordered strategies."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from optimizer.catalog.batch_rules import (
    ALLOCATION_STRATEGIES,
    CE_TYPES,
    INSTANCE_ALIASES,
    UPDATABLE_STRATEGIES,
    expand_instance_types,
)
from optimizer.catalog.instance_kinds import instance_kind
from optimizer.catalog.interruptions import (
    BAND_MONTHLY_PROBABILITY,
    band_hourly_hazard,
    band_hourly_hazards,
    monthly_probability_from_hazard,
)
from optimizer.catalog.provider import build_provider, bundled_catalog
from optimizer.catalog.requirements import (
    UNRESTRICTED,
    InstanceRequirements,
    requirements_from_dict,
    requirements_to_dict,
)
from optimizer.errors import ConfigError, InputError
from optimizer.simulate import catalog_from_provider, parse_config, replay
from tests.data_paths import REPO_ROOT
from tests.simulate_helpers import ce, jobs_frame, queue, tiny_catalog


def test_band_hazard_is_the_memoryless_rate_of_the_band_midpoint() -> None:
    for band, p in enumerate(BAND_MONTHLY_PROBABILITY):
        hazard = band_hourly_hazard(band)
        assert hazard == pytest.approx(-math.log(1 - p) / 730.0)
        # Round trip: an instance running a whole month is reclaimed with the band's probability.
        assert monthly_probability_from_hazard(hazard) == pytest.approx(p)
    # ">20%": 25%, and the linear shortcut p / 730 would be 14 % lower.
    assert band_hourly_hazard(4) / (0.25 / 730) == pytest.approx(1.1507, abs=1e-3)
    assert list(band_hourly_hazards(pd.Series([0, 4, None]))) == [
        band_hourly_hazard(0),
        band_hourly_hazard(4),
        band_hourly_hazard(2),
    ]
    with pytest.raises(ValueError, match="band 5"):
        band_hourly_hazard(5)


def test_every_consumer_uses_the_same_hazard() -> None:
    """Solver offerings, the replay's catalogue and the interruption model agree on a band's rate."""
    from optimizer.ml.interruptions import rates_by_type
    from optimizer.solver.build import offerings_from_catalog

    provider = bundled_catalog("us-east-1")
    row = provider.row("m6i.large")
    assert row is not None
    band = int(row["spot_band"])
    solver = {o.key: o for o in offerings_from_catalog(provider)}["m6i.large/SPOT"].interruption_rate
    replay_spec = catalog_from_provider(provider).types["m6i.large"]
    bands = pd.DataFrame({"region": ["us-east-1"], "instance_type": ["m6i.large"], "band": [band]})
    model = rates_by_type(pd.DataFrame(), bands, "us-east-1")["m6i.large"]
    assert solver == replay_spec.spot_hazard_per_hour == model == band_hourly_hazard(band)


def test_strategy_and_type_tables_match_the_installed_botocore() -> None:
    import botocore.session

    model = botocore.session.get_session().get_service_model("batch")
    enums = {
        name: tuple(model.shape_for(name).enum)
        for name in ("CRAllocationStrategy", "CRUpdateAllocationStrategy", "CRType")
    }
    assert set(ALLOCATION_STRATEGIES) == set(enums["CRAllocationStrategy"])
    assert set(UPDATABLE_STRATEGIES) == set(enums["CRUpdateAllocationStrategy"])
    assert set(CE_TYPES) == set(enums["CRType"])


def test_aliases_follow_the_batch_api_reference() -> None:
    import botocore.session

    doc = botocore.session.get_session().get_service_model("batch").shape_for("ComputeResource")
    text = doc.members["instanceTypes"].documentation
    assert "optimal" in text and "Semantically equivalent to" in text
    for family in INSTANCE_ALIASES["default_x86_64"] + INSTANCE_ALIASES["default_arm64"]:
        assert f"<code>{family}</code>" in text
    assert INSTANCE_ALIASES["optimal"] == INSTANCE_ALIASES["default_x86_64"]


def test_ordered_expansion_keeps_explicit_types_in_place() -> None:
    catalog = ["m7a.large", "m7a.4xlarge", "m7a.xlarge", "m6a.large"]
    assert expand_instance_types(["m7a.4xlarge", "m7a", "m6a"], catalog) == [
        "m7a.4xlarge",
        "m7a.large",
        "m7a.xlarge",
        "m6a.large",
    ]
    assert expand_instance_types(["nope"], catalog) == []


def test_new_strategies_replay_and_unknown_ones_name_the_field() -> None:
    cat = tiny_catalog(
        {
            "a.large": (2, 8192, 0, 0.10, 0.03, 0),
            "b.xlarge": (4, 16384, 0, 0.15, 0.05, 3),
            "c.large": (2, 8192, 0, 0.12, 0.04, 0),
        }
    )
    jobs = jobs_frame([{"job_id": str(k), "submit_s": 0, "vcpus": 2, "memory_mib": 1024} for k in range(2)])
    # BEST_FIT_PROGRESSIVE_ORDERED: the first entry that fits wins, even when dearer per vCPU.
    ordered = parse_config(
        {
            "computeEnvironments": [
                ce(
                    "od",
                    "EC2",
                    64,
                    ["a.large", "b.xlarge"],
                    allocationStrategy="BEST_FIT_PROGRESSIVE_ORDERED",
                )
            ],
            "jobQueues": [queue("q", 1, "od")],
        },
        cat,
    )
    assert set(replay(jobs, ordered).instances["instance_type"]) == {"a.large"}

    # SPOT_CAPACITY_OPTIMIZED_PRIORITIZED: capacity (band) first, then the list's order, then price.
    def spot_choice(strategy: str, types: list[str]) -> set[str]:
        document = {
            "computeEnvironments": [ce("sp", "SPOT", 64, types, allocationStrategy=strategy)],
            "jobQueues": [queue("q", 1, "sp")],
        }
        return set(replay(jobs, parse_config(document, cat)).instances["instance_type"])

    prioritized = "SPOT_CAPACITY_OPTIMIZED_PRIORITIZED"
    assert spot_choice(prioritized, ["b.xlarge", "a.large"]) == {"a.large"}  # band 0 beats band 3
    assert spot_choice(prioritized, ["c.large", "a.large"]) == {"c.large"}  # same band: the order
    assert spot_choice("SPOT_CAPACITY_OPTIMIZED", ["c.large", "a.large"]) == {"a.large"}  # price
    bad = {
        "computeEnvironments": [
            ce("x", "EC2", 8, ["a.large"], allocationStrategy="CHEAPEST_PLEASE"),
            ce("y", "SPOT", 8, ["a.large"], allocationStrategy="BEST_FIT_PROGRESSIVE_ORDERED"),
            ce("z", "ECS_MANAGED_INSTANCES", 8),
        ],
        "jobQueues": [queue("q", 1, "x")],
    }
    with pytest.raises(ConfigError) as info:
        parse_config(bad, cat, source="c.json")
    text = str(info.value)
    assert (
        "computeEnvironments[0] (x).computeResources.allocationStrategy: unknown allocation strategy" in text
    )
    assert "BEST_FIT_PROGRESSIVE_ORDERED is not valid for SPOT compute environments" in text
    assert "'ECS_MANAGED_INSTANCES' cannot be replayed" in text


@pytest.mark.parametrize(
    "name",
    [
        "DescribeInstanceTypes_25_instances.json",
        "DescribeInstanceTypes_g2_2xlarge_group.json",
        "DescribeInstanceTypes_t3_micro_and_p3_16xl.json",
    ],
)
def test_instance_kinds_agree_with_recorded_describe_instance_types(name: str) -> None:
    path = REPO_ROOT / "tests" / "fixtures" / "aws" / "ec2-instance-selector" / name
    for item in json.loads(path.read_text())["InstanceTypes"]:
        gpus = sum(g.get("Count", 0) for g in (item.get("GpuInfo") or {}).get("Gpus", []))
        kind = instance_kind(item["InstanceType"], gpus)
        assert kind.burstable == bool(item.get("BurstablePerformanceSupported")), item["InstanceType"]
        assert kind.bare_metal == bool(item.get("BareMetal")), item["InstanceType"]
        accelerated = any(
            item.get(k) for k in ("GpuInfo", "InferenceAcceleratorInfo", "FpgaInfo", "NeuronInfo")
        )
        assert kind.accelerated == accelerated, item["InstanceType"]
        if item.get("CurrentGeneration") is False:  # AWS marked it previous: so do we
            assert not kind.current_generation, item["InstanceType"]


def test_kinds_of_the_types_a_held_out_plan_wrongly_chose() -> None:
    assert instance_kind("inf2.48xlarge").accelerator == "inferentia"
    assert instance_kind("trn1n.32xlarge").accelerator == "trainium"
    assert instance_kind("t3a.2xlarge").burstable and instance_kind("t2.2xlarge").burstable
    assert not instance_kind("m2.2xlarge").current_generation
    assert (
        instance_kind("c7gn.16xlarge").category == "compute"
        and instance_kind("c7gn.16xlarge").generation == 7
    )
    assert instance_kind("u-6tb1.metal").bare_metal and instance_kind("u-6tb1.metal").category == "memory"
    assert instance_kind("g6f.xlarge", 0).accelerator == "gpu"  # fractional GPU listed with 0 GPUs


def test_default_requirements_and_their_document_form() -> None:
    default = InstanceRequirements()
    assert requirements_from_dict(requirements_to_dict(default)) == default
    assert requirements_from_dict(None) == default
    for name in ("t3a.large", "m2.2xlarge", "m7i.metal-24xl"):
        assert not default.allows_type(name)
        assert UNRESTRICTED.allows_type(name)
    assert default.allows_type("p4d.24xlarge", 8) and not default.hosts_cpu_jobs_on("p4d.24xlarge", 8)
    custom = requirements_from_dict({"allowed_families": ["m7*", "c7*"], "min_generation": 7})
    assert custom.allows_type("m7i.large") and not custom.allows_type("m6i.large")
    assert not custom.allows_type("r7i.large")
    with pytest.raises(InputError, match=r"instance_requirements\.burstabel: unknown key"):
        requirements_from_dict({"burstabel": True})
    with pytest.raises(InputError, match="accelerators: must be one of"):
        requirements_from_dict({"accelerators": "sometimes"})
    with pytest.raises(InputError, match="allowed_categories: 'cheap' is not one of"):
        requirements_from_dict({"allowed_categories": ["cheap"]})


def test_provider_flags_estimates_and_assumed_bands() -> None:
    prices = pd.DataFrame(
        {
            "instance_type": ["m6i.large", "c7i.large", "r7i.large"],
            "vcpus": [2, 2, 2],
            "memory_mib": [8192, 4096, 16384],
            "ondemand_price": [0.096, 0.089, 0.132],
        }
    )
    bands = pd.DataFrame(
        {"instance_type": ["m6i.large", "c7i.large"], "band": [0, 2], "savings_pct": [50, 60]}
    )
    series = pd.DataFrame(
        {
            "instance_type": ["r7i.large"],
            "availability_zone": ["us-east-1a"],
            "timestamp": [pd.Timestamp("2026-01-01")],
            "price": [0.05],
        }
    )
    provider = build_provider(prices, bands, series, region="us-east-1")
    table = provider.table.set_index("instance_type")
    assert table.loc["m6i.large", "spot_price_source"] == "estimate"
    assert table.loc["m6i.large", "spot_price"] == pytest.approx(0.048)
    assert table.loc["r7i.large", "spot_price_source"] == "collected"
    assert bool(table.loc["r7i.large", "spot_band_assumed"])  # no band: the region's median band
    assert table.loc["r7i.large", "spot_band"] == 1
    assert (provider.table["spot_price_source"] == "estimate").any()


def test_regions_without_bundled_prices_say_how_to_get_them() -> None:
    with pytest.raises(InputError, match="no on-demand prices for region eu-west-1: collect them"):
        bundled_catalog("eu-west-1")


def test_a_price_file_is_read_strictly_where_a_lenient_read_would_misprice(tmp_path) -> None:
    from optimizer.catalog.files import read_price_file

    def table(text: str):
        path = tmp_path / "prices.csv"
        path.write_text(text)
        return read_price_file(path), path

    # Without an arch column, a Graviton type is arm64 by its name (it was x86_64 and ran x86 jobs).
    frame, _ = table(
        "instance_type,vcpus,memory_mib,ondemand_price\nc8g.large,2,4096,0.0798\nm7i.large,2,8192,0.1008\n"
    )
    assert frame.set_index("instance_type")["arch"].to_dict() == {"c8g.large": "arm64", "m7i.large": "x86_64"}
    # One column per operating system: the Linux one, not the first.
    frame, _ = table(
        "instance_type,vcpus,memory_mib,ondemand_usd_per_hour_windows,ondemand_usd_per_hour_linux\n"
        "m5.large,2,8192,0.188,0.096\n"
    )
    assert frame["ondemand_price"].tolist() == [0.096]
    with pytest.raises(
        InputError,
        match=r"line 1: several price columns \(ondemand_usd_per_hour_a, ondemand_usd_per_hour_b\)",
    ):
        table(
            "instance_type,vcpus,memory_mib,ondemand_usd_per_hour_a,ondemand_usd_per_hour_b\nm5.large,2,8192,1,2\n"
        )
    # A cell that is not a number names its line and column (such types were dropped without a word).
    with pytest.raises(InputError, match=r"prices.csv line 3: column memory_mib: '8,192' is not a number"):
        table(
            'instance_type,vcpus,memory_mib,ondemand_price\nt3.nano,2,512,0.0052\nm5.large,2,"8,192",0.096\n'
        )
    # A type listed twice (another OS, tenancy or a capacity reservation) is refused, not last-wins.
    with pytest.raises(
        InputError, match=r"prices.csv lines 2, 3: instance type m5.large listed more than once"
    ):
        table(
            "instance_type,vcpus,memory_mib,ondemand_price\nm5.large,2,8192,0.096\nm5.large,2,8192,0.0663\n"
        )


def test_the_snapshot_is_built_from_the_newest_us_east_1_price_file_only(tmp_path) -> None:
    """The snapshot is served as us-east-1's prices: another region's file must not become them, and
    the newest file is the one with the latest date, not the last name in sort order."""
    from optimizer.data.build_snapshots import PRICE_FILE_PATTERN, _latest, build_price_snapshot

    prices = tmp_path / "prices"
    prices.mkdir()
    for name in ("us-east-1-2026-07", "us-east-1-2027-01", "us-west-2-2026-07", "eu-west-1-2027-06"):
        (prices / f"ec2-ondemand-{name}.csv").write_text("instance_type,vcpus,memory_mib,ondemand_price\n")
    assert _latest(tmp_path, PRICE_FILE_PATTERN).name == "ec2-ondemand-us-east-1-2027-01.csv"
    with pytest.raises(ValueError, match="prices eu-west-1; the bundled snapshot is us-east-1's"):
        build_price_snapshot(prices / "ec2-ondemand-eu-west-1-2027-06.csv", out=tmp_path / "out.csv")
