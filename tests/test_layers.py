"""The layer rules of DESIGN.md hold, and import-linter would catch a break of them."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(pythonpath), "PATH": str(LINT_IMPORTS.parent)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(cwd / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_the_layer_contracts_are_kept():
    result = _lint(ROOT, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("engine/_leak.py", "import PySide6.QtCore\n", "engine: numerical core"),
        ("engine/_leak.py", "import torch\n", "engine: numerical core"),
        ("training/_leak.py", "import pyqtgraph\n", "training: torch, no Qt"),
        ("widgets/_leak.py", "from fieldcast.training import models\n", "widgets: Qt pieces"),
    ],
)
def test_a_forbidden_import_is_caught(tmp_path, module, line, contract):
    shutil.copytree(ROOT / "fieldcast", tmp_path / "fieldcast", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "fieldcast" / module).write_text(line)
    result = _lint(tmp_path, tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert contract in result.stdout.split("Broken contracts")[-1]
