"""`constraints.txt` pins every requirement pyproject.toml declares, inside its declared range.

`make install` and the Dockerfile install under these pins so the quick start gets the versions the
suite passed with on any later date; a requirement added to pyproject.toml without a pin (or a pin
outside the new range) would silently float again, so this fails instead.
"""

from __future__ import annotations

import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.data_paths import REPO_ROOT


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for n, line in enumerate((REPO_ROOT / "constraints.txt").read_text().splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        name, sep, version = text.partition("==")
        assert sep and version, f"constraints.txt line {n}: not NAME==VERSION: {line!r}"
        pins[canonicalize_name(name)] = version
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    texts = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        texts += extra
    return [Requirement(t) for t in texts]


def test_every_declared_requirement_is_pinned_inside_its_range() -> None:
    pins = _pins()
    for req in _declared():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name}: declared in pyproject.toml but not pinned in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{req.name}: pinned {pins[name]} outside the declared {req.specifier}"
        )


def test_the_installer_is_pinned_too() -> None:
    assert "pip" in _pins()
