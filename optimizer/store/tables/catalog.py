"""The EC2 catalog and prices: instance types, offerings per AZ, on-demand and spot prices, spot bands."""

from sqlalchemy import Column, Table

from optimizer.store.base import Boolean, Float, Integer, Str, Time, metadata

instance_types = Table(
    "instance_types",
    metadata,
    Column("region", Str, primary_key=True),
    Column("instance_type", Str, primary_key=True),
    Column("vcpus", Integer, nullable=False),
    Column("memory_mib", Integer, nullable=False),
    Column("allocatable_memory_mib", Integer, nullable=False),
    Column("gpus", Integer, nullable=False, server_default="0"),
    Column("gpu_model", Str),
    Column("gpu_memory_mib", Integer),
    Column("arch", Str, nullable=False),  # x86_64 | arm64
    Column("family", Str),
    Column("generation", Str),
    Column("network_performance", Str),
    Column("current_generation", Boolean),
    # Non-GPU accelerators: inferentia | trainium | fpga | media | other (`instance_kinds`), and
    # how many devices (NeuronInfo, InferenceAcceleratorInfo, FpgaInfo, MediaAcceleratorInfo).
    Column("accelerator", Str),
    Column("accelerator_count", Integer),
    # DescribeInstanceTypes' NetworkInfo.EfaSupported; null where the source does not say (older
    # recordings, price tables without it): unknown, so it hosts no job that needs EFA.
    Column("efa_supported", Boolean),
    # Baseline network bandwidth in Mbit/s (`optimizer.collectors.catalog.baseline_bandwidth_mbps`);
    # `network_performance` keeps EC2's text ("Up to 12.5 Gigabit"), which is no number to compare.
    Column("network_bandwidth_mbps", Integer),
)

instance_type_offerings = Table(
    "instance_type_offerings",
    metadata,
    Column("region", Str, primary_key=True),
    Column("availability_zone", Str, primary_key=True),
    Column("instance_type", Str, primary_key=True),
)

ondemand_prices = Table(
    "ondemand_prices",
    metadata,
    Column("region", Str, primary_key=True),
    Column("instance_type", Str, primary_key=True),
    Column("effective_date", Time, primary_key=True),
    Column("price_per_hour", Float, nullable=False),
    Column("source", Str, nullable=False),  # pricing-api | snapshot
    Column("currency", Str, nullable=False, server_default="USD"),  # CNY in the China regions
)

spot_prices = Table(
    "spot_prices",
    metadata,
    Column("region", Str, primary_key=True),
    Column("availability_zone", Str, primary_key=True),
    Column("instance_type", Str, primary_key=True),
    Column("timestamp", Time, primary_key=True),
    Column("price", Float, nullable=False),
)

spot_price_checks = Table(
    # The price DescribeSpotPriceHistory gave as in effect when the collection last asked (per AZ
    # and type). `spot_prices` lists price CHANGES: a price that held for a month has a month-old
    # point and nothing newer, which read as "no spot price since" on the Spot page.
    "spot_price_checks",
    metadata,
    Column("region", Str, primary_key=True),
    Column("availability_zone", Str, primary_key=True),
    Column("instance_type", Str, primary_key=True),
    Column("checked_at", Time, nullable=False),
    Column("price", Float, nullable=False),
)

spot_interruption_bands = Table(
    "spot_interruption_bands",
    metadata,
    Column("region", Str, primary_key=True),
    Column("instance_type", Str, primary_key=True),
    Column("band", Integer, nullable=False),  # 0 "<5%" .. 4 ">20%" per month
    Column("band_label", Str, nullable=False),
    Column("savings_pct", Float),
    Column("snapshot_date", Time, nullable=False),
)

TABLES = (instance_types, instance_type_offerings, ondemand_prices, spot_prices, spot_interruption_bands)
