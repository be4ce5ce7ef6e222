"""Where Fieldcast keeps its files: datasets, runs, logs and settings.

By default these follow the platform's conventions (platformdirs). ``FIELDCAST_HOME`` moves all of them
under one folder, which tests and portable installs use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

__all__ = ["AppPaths", "app_paths"]

APP_NAME = "Fieldcast"


@dataclass(frozen=True)
class AppPaths:
    """The folders Fieldcast reads and writes; created on first use by :func:`app_paths`."""

    data: Path
    runs: Path
    models: Path
    logs: Path
    config: Path

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.ini"

    @property
    def log_file(self) -> Path:
        return self.logs / "fieldcast.log"


def app_paths(create: bool = True) -> AppPaths:
    """Return the folders for this user, honouring ``FIELDCAST_HOME``."""
    home = os.environ.get("FIELDCAST_HOME")
    if home:
        root = Path(home).expanduser()
        paths = AppPaths(root / "datasets", root / "runs", root / "models", root / "logs", root / "config")
    else:
        data = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
        paths = AppPaths(
            data=data / "datasets",
            runs=data / "runs",
            models=data / "models",
            logs=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
            config=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        )
    if create:
        for folder in (paths.data, paths.runs, paths.models, paths.logs, paths.config):
            folder.mkdir(parents=True, exist_ok=True)
    return paths
