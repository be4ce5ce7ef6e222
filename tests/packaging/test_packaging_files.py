"""Fast checks of the installer sources in packaging/ (nothing is built here: no PyInstaller, no dpkg-deb).

The real proof is `make package` (packaging/build_linux.sh) and the package workflow, which build, install
and smoke-test the applications; these tests catch the mistakes that would only show up there, minutes later.
"""

from __future__ import annotations

import ast
import configparser
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "fieldcast.spec"
MIME_XML = PACKAGING / "linux" / "fieldcast-mime.xml"
DESKTOP_FILES = [PACKAGING / "linux" / "fieldcast.desktop", PACKAGING / "linux" / "fieldcast-player.desktop"]
ICONS = ROOT / "fieldcast" / "resources" / "icons"
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"
FIELDCAST_TYPES = {"application/x-fieldcast-dataset", "application/x-fieldcast-model"}


def _spec_lists() -> dict[str, list[str]]:
    """The string lists the spec assigns or extends by name, e.g. EXCLUDES (base + Player additions)."""
    tree = ast.parse(SPEC.read_text(encoding="utf-8"))
    found: dict[str, list[str]] = {}
    player: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.List):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = [ast.literal_eval(e) for e in node.value.elts]
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "PLAYER":
            for stmt in node.body:
                if isinstance(stmt, ast.AugAssign) and getattr(stmt.target, "id", "") == "EXCLUDES":
                    player += [ast.literal_eval(e) for e in stmt.value.elts]
    found["PLAYER_EXCLUDES"] = player
    return found


def test_spec_excludes_what_fieldcast_does_not_use():
    excludes = set(_spec_lists()["EXCLUDES"])
    for module in (
        "PySide6.QtWebEngineCore",
        "PySide6.QtWebEngineWidgets",
        "PySide6.QtQml",
        "PySide6.QtQuick",
        "PySide6.QtQuickWidgets",
        "PySide6.Qt3DCore",
        "PySide6.QtMultimedia",
        "tkinter",
        "matplotlib",
        "phi",
        "pytest",
    ):
        assert module in excludes, f"the spec does not exclude {module}"


def test_spec_keeps_what_the_canvas_needs():
    # vispy's Qt backend imports QtTest at module level: excluding it leaves the Play canvas blank.
    excludes = set(_spec_lists()["EXCLUDES"]) | set(_spec_lists()["PLAYER_EXCLUDES"])
    for needed in ("PySide6.QtTest", "PySide6.QtOpenGL", "PySide6.QtOpenGLWidgets", "PySide6.QtSvg", "vispy"):
        assert needed not in excludes


def test_spec_keeps_sources_that_are_imported_by_path():
    # onnxruntime.transformers imports its modules by bare name from its own folder (INT8 export needs it)
    text = SPEC.read_text(encoding="utf-8")
    assert "ORT_TRANSFORMERS)]" in text
    assert '"fieldcast.training": "pyz+py"' in text  # RunsPanel's export_available() looks for export.py


def test_player_leaves_out_torch_and_the_modules_that_need_it():
    player = _spec_lists()["PLAYER_EXCLUDES"]
    assert {"torch", "fieldcast.training"} <= set(player)
    for module in (m for m in player if m.startswith("fieldcast.")):
        path = ROOT / Path(*module.split("."))
        assert path.is_dir() or path.with_suffix(".py").is_file(), f"{module} is gone: update the spec"


def test_spec_entry_point_calls_the_cli():
    entry = PACKAGING / "fieldcast_entry.py"
    assert 'packaging" / "fieldcast_entry.py' in SPEC.read_text(encoding="utf-8")
    tree = ast.parse(entry.read_text(encoding="utf-8"))
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "fieldcast.app.cli"]
    assert imports and imports[0].names[0].name == "main"


def test_entry_script_runs_the_cli_and_modules():
    entry = str(PACKAGING / "fieldcast_entry.py")
    out = subprocess.run([sys.executable, entry, "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("fieldcast "), out.stderr
    # `fieldcast -m fieldcast.<module>` is how a bundle runs its helper processes; other modules are refused.
    out = subprocess.run(
        [sys.executable, entry, "-m", "json.tool", "--help"], capture_output=True, text=True, timeout=60
    )
    assert "json.tool" not in out.stdout


def test_edition_requirements():
    sys.path.insert(0, str(PACKAGING))
    try:
        from edition_requirements import requirements
    finally:
        sys.path.remove(str(PACKAGING))
    player, studio = requirements("player"), requirements("studio")
    assert not any(r.lower().startswith("torch") for r in player)
    assert "torch==2.13.0" in studio
    for edition in (player, studio):
        names = {
            r.split(";")[0].split("=")[0].split(">")[0].split("<")[0].split("!")[0].strip().lower()
            for r in edition
        }
        assert names.isdisjoint({"pytest", "pytest-qt", "ruff", "import-linter", "phiflow", "matplotlib"})
        assert {"pyinstaller", "pyside6-essentials", "vispy", "onnx"} <= names


def test_desktop_files_validate():
    validator = shutil.which("desktop-file-validate")
    for path in DESKTOP_FILES:
        if validator:
            out = subprocess.run([validator, str(path)], capture_output=True, text=True, timeout=30)
            assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str  # keys are case-sensitive
        parser.read(path, encoding="utf-8")
        entry = parser["Desktop Entry"]
        assert entry["Type"] == "Application"
        assert entry["Exec"].split()[0] == "fieldcast" and "%F" in entry["Exec"]
        assert (ICONS / f"{entry['Icon']}.svg").is_file() and (ICONS / f"{entry['Icon']}.png").is_file()
        assert set(filter(None, entry["MimeType"].split(";"))) == FIELDCAST_TYPES
        assert entry["Categories"].endswith(";")


def test_mime_xml_declares_the_fieldcast_types():
    root = ET.parse(MIME_XML).getroot()
    assert root.tag == f"{MIME_NS}mime-info"
    types = {t.get("type"): t for t in root.findall(f"{MIME_NS}mime-type")}
    assert set(types) == FIELDCAST_TYPES
    globs = {t: {g.get("pattern") for g in e.findall(f"{MIME_NS}glob")} for t, e in types.items()}
    assert "*.h5" in globs["application/x-fieldcast-dataset"]
    assert globs["application/x-fieldcast-model"] == {"*.onnx"}
    magic = [m.get("value") for m in types["application/x-fieldcast-dataset"].iter(f"{MIME_NS}match")]
    assert magic and all(v == "\\211HDF\\r\\n\\032\\n" for v in magic)  # the HDF5 signature, 8 bytes


def test_size_budget_parses():
    budget = {}
    for line in (PACKAGING / "size_budget.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0]  # same rule as build_linux.sh: "key max_mib", comments after '#'
        if line.strip():
            key, value = line.split()
            assert key not in budget
            budget[key] = int(value)
    assert {"player", "studio", "player.deb", "studio.deb"} <= set(budget)
    assert all(v > 0 for v in budget.values())
    assert budget["player"] < budget["studio"] and budget["player.deb"] < budget["player"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
@pytest.mark.parametrize("script", ["build_linux.sh", "macos/build_dmg.sh"])
def test_shell_scripts_parse(script):
    path = PACKAGING / script
    text = path.read_text(encoding="utf-8")
    assert "set -euo pipefail" in text
    out = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr


def test_icons():
    png = (ICONS / "fieldcast.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (256, 256)
    assert ET.parse(ICONS / "fieldcast.svg").getroot().tag == "{http://www.w3.org/2000/svg}svg"
    assert (ICONS / "fieldcast.ico").read_bytes()[:4] == b"\x00\x00\x01\x00"


def test_workflow_builds_installs_and_smoke_tests_each_platform():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "package.yml").read_text(encoding="utf-8"))
    jobs = workflow["jobs"]
    assert set(jobs) == {"linux", "windows", "macos"}
    for name, job in jobs.items():
        script = "\n".join(step.get("run", "") for step in job["steps"])
        assert "--smoke-test" in script, f"{name} does not smoke-test the installed application"
        assert job["strategy"]["matrix"]["edition"] == ["player", "studio"]
    assert "hdiutil" in (PACKAGING / "macos" / "build_dmg.sh").read_text(encoding="utf-8")
    inno = (PACKAGING / "windows" / "fieldcast.iss").read_text(encoding="utf-8")
    assert "fieldcast.exe" in inno and ".onnx" in inno and ".h5" in inno
