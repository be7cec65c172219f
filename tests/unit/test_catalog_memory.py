from optimizer.catalog.memory import allocatable_memory_mib


def test_matches_the_aws_m4_large_example() -> None:
    # 8 GiB installed -> 7,985 MiB seen by the OS -> 7,953 MiB after the agent's 32 MiB.
    assert allocatable_memory_mib(8192) == 7953


def test_never_reaches_nominal_and_is_monotonic() -> None:
    sizes = [512, 1024, 2048, 4096, 16384, 65536, 786432]
    values = [allocatable_memory_mib(s) for s in sizes]
    assert all(v < s for v, s in zip(values, sizes, strict=True))
    assert values == sorted(values)
    assert allocatable_memory_mib(0) == 0
