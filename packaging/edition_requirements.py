"""Print the requirements of one Fieldcast edition, one per line, for ``pip install -r``.

    python packaging/edition_requirements.py player|studio > requirements.txt

The application's dependencies are read from ``pyproject.toml`` (so they are written in one place); the
Studio edition adds the ``train`` (torch) and ``video`` (MP4 recording) extras; both add the build tools of
``packaging/requirements-build.txt``. Install the result with ``-c requirements-lock.txt`` so every version is
the pinned one. Test, lint and benchmark packages are never part of an edition.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
EXTRAS = {"player": (), "studio": ("train", "video")}


def requirements(edition: str) -> list[str]:
    if edition not in EXTRAS:
        raise SystemExit(f"unknown edition {edition!r}; expected one of {', '.join(EXTRAS)}")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = list(project["dependencies"])
    for extra in EXTRAS[edition]:
        lines += project["optional-dependencies"][extra]
    build = (ROOT / "packaging" / "requirements-build.txt").read_text(encoding="utf-8").splitlines()
    lines += [ln.strip() for ln in build if ln.strip() and not ln.lstrip().startswith("#")]
    return lines


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1] if len(sys.argv) > 1 else "")))
