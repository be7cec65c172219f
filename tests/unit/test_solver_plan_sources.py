"""A plan's reason names the search that found it in a reader's words (`plan_sources.py`)."""

from __future__ import annotations

import pytest

from optimizer.solver.plan_sources import PLAIN_SOURCES, plain_source

#: Words a FinOps reader of the Fleet mix page stopped at (the helper's audit, 2026-12-05).
JARGON = ("heuristic", "restriction", "subset", "LP", "Lagrangian", "master", "FFD")


@pytest.mark.parametrize(
    "source",
    [
        *PLAIN_SOURCES,
        "type-cap restriction",
        "type-cap restriction to the capped LP's selection",
        "type-cap restriction to the swap search's subset",
        "single type m6i.large/SPOT",
    ],
)
def test_every_search_reads_without_solver_terms(source: str) -> None:
    words = plain_source(source)
    assert not any(term in words for term in JARGON), words


def test_a_single_type_plan_names_its_offering_and_an_unknown_search_keeps_its_name() -> None:
    assert plain_source("single type m6i.large/SPOT") == "one instance type for every job (m6i.large/SPOT)"
    assert plain_source("a new search") == "found by a new search"
