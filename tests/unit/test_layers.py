"""The layer order of `optimizer/`: a module may import only from layers below its own.

Every module's imports are read with `ast` (module level, inside functions and under
`TYPE_CHECKING` alike: a lazy import is still a dependency), each import is mapped to the unit it
lands in (a top-level package such as `optimizer.recommend`, a top-level module such as
`optimizer.config`, or one of `SUBMODULE_UNITS`), and an import is a back-arrow when the imported
unit sits in a higher layer than the importer, or in the same layer under another name (units
sharing a layer are peers and stay independent of each other). `docs/architecture.md` draws the same
order; change both together.

A package whose pure modules are read by lower layers but which also has one module that reads or
writes the store (`analysis/stored.py`, `simulate/datasets.py`) splits into two units: that module
sits in a layer above the package's pure modules, so it may import them and they must not import it.

The few back-arrows that cannot be fixed without moving modules other work is editing now are listed
in `KNOWN_BACK_ARROWS`, each with the reason and the fix; the test also fails when an entry is no
longer needed, so the list only shrinks.
"""

from __future__ import annotations

import ast
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "optimizer"  # the source tree, installed or not
ROOT = "optimizer"

# Bottom to top. A unit imports only units of lower layers (and itself).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("optimizer", "errors", "domain", "number_text", "per_month", "runtime")),
    ("settings", ("config",)),
    ("infrastructure: AWS sessions, the store", ("aws", "store")),
    ("scheduler registry", ("scheduler",)),
    ("catalogue and pricing", ("catalog",)),
    ("bundled reference data", ("data",)),
    ("pure analysis", ("analysis",)),
    ("analysis inputs from the store", ("analysis.stored",)),
    ("the bill", ("billing",)),
    ("collection", ("collectors",)),
    ("job traces", ("traces",)),
    ("models, fleet-mix solver", ("ml", "solver")),
    ("replay", ("simulate",)),
    ("replay datasets in the store", ("simulate.datasets",)),
    ("fleet plans and commitments", ("fleet",)),
    ("recommendations", ("recommend",)),
    ("apply, weekly report", ("apply", "report")),
    ("dashboard", ("dashboard",)),
    ("demo", ("demo",)),
    ("command line", ("cli",)),
    ("`python -m optimizer`", ("__main__",)),
)

# A package's one store-touching module is its own unit, a layer above the package's pure modules:
# it may import them, they must not import it (the pure code stays testable without a store).
SUBMODULE_UNITS: tuple[str, ...] = ("analysis.stored", "simulate.datasets")

LAYER_OF: dict[str, int] = {unit: rank for rank, (_, units) in enumerate(LAYERS) for unit in units}


@dataclass(frozen=True)
class Import:
    file: str  # relative to the repository, e.g. optimizer/apply/event_intake.py
    line: int
    importer: str  # unit of the importing file
    imported: str  # full module name, e.g. optimizer.apply.records

    @property
    def imported_unit(self) -> str:
        return unit_of(self.imported)


# (importing file, imported module) -> why it stays for now and what removes it.
KNOWN_BACK_ARROWS: dict[tuple[str, str], str] = {}


def unit_of(module: str) -> str:
    """`optimizer.recommend.strategies.graviton` -> `recommend`; `optimizer` -> `optimizer`;
    `optimizer.analysis.stored` -> `analysis.stored` (one of `SUBMODULE_UNITS`)."""
    parts = module.split(".")
    if len(parts) > 2 and ".".join(parts[1:3]) in SUBMODULE_UNITS:
        return ".".join(parts[1:3])
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(path: Path, package_dir: Path) -> str:
    parts = path.relative_to(package_dir.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module) of every import of `source` anywhere in the file, relative ones resolved.
    `from optimizer import x` counts as importing `optimizer.x` (x is a module or a name of the root)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == ROOT:
                found.extend((node.lineno, f"{ROOT}.{alias.name}") for alias in node.names)
            else:
                found.append((node.lineno, target))
    return found


def project_imports(package_dir: Path = PACKAGE_DIR) -> list[Import]:
    """Every import of a project module by a project module in another unit."""
    result: list[Import] = []
    for path in sorted(package_dir.rglob("*.py")):
        module = module_name(path, package_dir)
        importer = unit_of(module)
        rel = path.relative_to(package_dir.parent).as_posix()
        for line, target in imports_of(path.read_text(), module, path.name == "__init__.py"):
            if (target == ROOT or target.startswith(ROOT + ".")) and unit_of(target) != importer:
                result.append(Import(rel, line, importer, target))
    return result


def rule_broken(imp: Import) -> str | None:
    """Why this import breaks the layer order, or None when it follows it."""
    low, high = LAYER_OF[imp.importer], LAYER_OF[imp.imported_unit]
    if high < low:
        return None
    low_name, high_name = LAYERS[low][0], LAYERS[high][0]
    if high == low:
        return (
            f"{imp.importer!r} and {imp.imported_unit!r} are peers in layer {low} ({low_name}) "
            "and must not import each other"
        )
    return (
        f"{imp.importer!r} (layer {low}: {low_name}) must not import {imp.imported_unit!r} "
        f"(layer {high}: {high_name}, above it)"
    )


def describe(imp: Import, rule: str) -> str:
    return f"{imp.file}:{imp.line} imports {imp.imported}: {rule}"


IMPORTS = project_imports()


def test_every_unit_of_the_package_has_a_layer() -> None:
    units = {unit_of(module_name(p, PACKAGE_DIR)) for p in PACKAGE_DIR.rglob("*.py")}
    missing = sorted(units - LAYER_OF.keys())
    assert not missing, f"place these in LAYERS (and docs/architecture.md): {missing}"
    stale = sorted(LAYER_OF.keys() - units)
    assert not stale, f"LAYERS names units that no longer exist: {stale}"


def test_no_lower_layer_imports_a_higher_one() -> None:
    broken = [
        describe(imp, rule)
        for imp in IMPORTS
        if (rule := rule_broken(imp)) and (imp.file, imp.imported) not in KNOWN_BACK_ARROWS
    ]
    assert not broken, "back-arrows in the layer order:\n" + "\n".join(broken)


def test_every_known_back_arrow_is_still_there() -> None:
    seen = {(imp.file, imp.imported) for imp in IMPORTS if rule_broken(imp)}
    gone = [f"{file} -> {module}" for file, module in KNOWN_BACK_ARROWS if (file, module) not in seen]
    assert not gone, "fixed, so remove from KNOWN_BACK_ARROWS:\n" + "\n".join(gone)


@pytest.fixture
def tiny_package(tmp_path: Path) -> Path:
    """optimizer/{errors.py, recommend/strategies/x.py, apply/__init__.py} with one lazy back-arrow."""
    root = tmp_path / ROOT
    (root / "recommend" / "strategies").mkdir(parents=True)
    (root / "apply").mkdir()
    (root / "__init__.py").write_text("")
    (root / "errors.py").write_text("")
    (root / "apply" / "__init__.py").write_text("from ..recommend.strategies import x\n")
    (root / "recommend" / "__init__.py").write_text("")
    (root / "recommend" / "strategies" / "__init__.py").write_text("")
    (root / "recommend" / "strategies" / "x.py").write_text(
        "from ...errors import InputError\n\ndef f():\n    from optimizer.apply.planner import plan\n"
    )
    return root


def test_the_checker_finds_a_lazy_relative_back_arrow_and_names_file_module_and_rule(
    tiny_package: Path,
) -> None:
    found = project_imports(tiny_package)
    by_file = {(imp.file, imp.imported): imp for imp in found}
    assert set(by_file) == {
        ("optimizer/apply/__init__.py", "optimizer.recommend.strategies"),
        ("optimizer/recommend/strategies/x.py", "optimizer.errors"),
        ("optimizer/recommend/strategies/x.py", "optimizer.apply.planner"),
    }
    back = by_file[("optimizer/recommend/strategies/x.py", "optimizer.apply.planner")]
    assert back.line == 4
    message = describe(back, rule_broken(back) or "")
    assert message.startswith("optimizer/recommend/strategies/x.py:4 imports optimizer.apply.planner: ")
    assert "'recommend' (layer 15: recommendations) must not import 'apply'" in message
    assert rule_broken(by_file[("optimizer/apply/__init__.py", "optimizer.recommend.strategies")]) is None
    assert rule_broken(by_file[("optimizer/recommend/strategies/x.py", "optimizer.errors")]) is None


def test_peers_in_one_layer_must_not_import_each_other() -> None:
    rule = rule_broken(Import("optimizer/report/x.py", 1, "report", "optimizer.apply.service"))
    assert rule is not None and "peers" in rule and "'report' and 'apply'" in rule


def _doc_token(unit: str) -> str:
    """How docs/architecture.md's diagram names a unit: `aws/`, `config.py`, `analysis/stored.py`,
    `optimizer (package)`."""
    if unit == ROOT:
        return "optimizer (package)"
    if unit == "__main__":
        return "__main__"
    path = unit.replace(".", "/")
    return f"{path}/" if (PACKAGE_DIR / path).is_dir() else f"{path}.py"


def test_the_architecture_page_draws_the_same_layers_top_down() -> None:
    page = (PACKAGE_DIR.parent / "docs" / "architecture.md").read_text()
    diagram = page.split("```", 2)[1].splitlines()

    def line_of(unit: str) -> int:
        pattern = re.compile(r"(?<![\w/.])" + re.escape(_doc_token(unit)) + r"(?!\w)")
        hits = [i for i, text in enumerate(diagram) if pattern.search(text)]
        assert len(hits) == 1, f"{_doc_token(unit)!r} must appear once in the diagram, found {len(hits)}"
        return hits[0]

    rows = [(name, [line_of(u) for u in units]) for name, units in LAYERS]
    for (lower, lower_lines), (upper, upper_lines) in itertools.pairwise(rows):
        assert max(upper_lines) < min(lower_lines), f"the diagram draws {upper!r} below {lower!r}"


def test_the_dashboard_reaches_aws_only_through_the_apply_service() -> None:
    rule = (
        "the dashboard builds no AWS session or client; "
        "it calls ApplyService.for_settings, which owns its access"
    )
    direct = [
        describe(imp, rule) for imp in IMPORTS if imp.importer == "dashboard" and imp.imported_unit == "aws"
    ]
    assert not direct, "\n".join(direct)
