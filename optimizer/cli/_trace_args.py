"""Arguments shared by `import-trace` and `simulate --trace`: the format and the stated mapping."""

from __future__ import annotations

import argparse

from optimizer.traces.formats import FORMATS
from optimizer.traces.mapping import TraceMapping


def add_mapping_arguments(p: argparse.ArgumentParser) -> None:
    defaults = TraceMapping()
    p.add_argument(
        "--format",
        dest="trace_format",
        choices=FORMATS,
        help=(
            "trace format: swf (Standard Workload Format log), alibaba-gpu (Alibaba cluster-trace-gpu-v2023"
            " openb_pod_list_*.csv), alibaba-pai-2020 (Alibaba cluster-trace-gpu-v2020 pai_task_table.csv,"
            " with or without its header line), batch-json (DescribeJobs JSON), csv (documented columns)"
        ),
    )
    p.add_argument(
        "--vcpus-per-processor",
        type=float,
        default=defaults.vcpus_per_processor,
        help=(
            "vCPUs per SWF processor, and per Alibaba CPU (v2023 cpu_milli / 1000, PAI 2020 plan_cpu / 100)"
            " (default %(default)s)"
        ),
    )
    p.add_argument(
        "--memory-per-vcpu",
        type=float,
        default=defaults.memory_mib_per_vcpu,
        metavar="MIB",
        help=(
            "memory assumed per vCPU where the trace has none (SWF: neither requested nor used memory;"
            " default %(default)s MiB)"
        ),
    )
    p.add_argument(
        "--swf-requested",
        action="store_true",
        help="use SWF requested processors instead of allocated ones",
    )
    p.add_argument(
        "--max-vcpus-per-node",
        type=float,
        default=defaults.max_vcpus_per_node,
        metavar="VCPUS",
        help=(
            "a wider SWF job becomes a multi-node parallel job of ceil(vCPUs / VCPUS) nodes "
            "(default %(default)s: the largest size every current general, compute and memory family offers)"
        ),
    )
    p.add_argument(
        "--default-queue",
        default=defaults.default_queue,
        help="queue name for jobs whose trace has none (default %(default)s)",
    )


def mapping_from_args(args: argparse.Namespace) -> TraceMapping:
    return TraceMapping(
        vcpus_per_processor=args.vcpus_per_processor,
        memory_mib_per_vcpu=args.memory_per_vcpu,
        swf_use_requested=args.swf_requested,
        default_queue=args.default_queue,
        max_vcpus_per_node=args.max_vcpus_per_node,
    )
