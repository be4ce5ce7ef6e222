"""Persistent user settings: window geometry, recent files, last folders (QSettings, INI format)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

__all__ = ["Settings"]

MAX_RECENT = 10


class Settings:
    """A thin, typed view over one QSettings INI file."""

    def __init__(self, path: Path) -> None:
        self._qs = QSettings(str(path), QSettings.Format.IniFormat)

    @property
    def file(self) -> str:
        return self._qs.fileName()

    def sync(self) -> None:
        self._qs.sync()

    # Window state -------------------------------------------------------------------------------------
    def geometry(self) -> QByteArray | None:
        value = self._qs.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_geometry(self, geometry: QByteArray) -> None:
        self._qs.setValue("window/geometry", geometry)

    def window_state(self) -> QByteArray | None:
        value = self._qs.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_window_state(self, state: QByteArray) -> None:
        self._qs.setValue("window/state", state)

    def current_panel(self) -> str:
        return str(self._qs.value("window/panel", "") or "")

    def set_current_panel(self, name: str) -> None:
        self._qs.setValue("window/panel", name)

    # Recent files -------------------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self._qs.value("recent/files", [])
        if isinstance(value, str):  # QSettings returns a bare string for a one-element list
            value = [value]
        return [str(v) for v in (value or []) if v]

    def add_recent_file(self, path: str | Path) -> list[str]:
        path = str(Path(path).resolve())
        files = [f for f in self.recent_files() if f != path]
        files.insert(0, path)
        del files[MAX_RECENT:]
        self._qs.setValue("recent/files", files)
        return files

    def remove_recent_file(self, path: str) -> None:
        self._qs.setValue("recent/files", [f for f in self.recent_files() if f != path])

    def clear_recent_files(self) -> None:
        self._qs.setValue("recent/files", [])

    def last_folder(self, kind: str) -> str:
        return str(self._qs.value(f"folders/{kind}", "") or "")

    def set_last_folder(self, kind: str, folder: str | Path) -> None:
        self._qs.setValue(f"folders/{kind}", str(folder))
