"""Help → About: versions, the compute device, and the ONNX Runtime providers this machine can use."""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import platform
import sys

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

import fieldcast
from fieldcast.engine.devices import listed_providers, usable_providers

__all__ = ["AboutDialog", "detect_torch_device", "version_rows"]

_PACKAGES = (
    "numpy",
    "scipy",
    "h5py",
    "pyqtgraph",
    "vispy",
    "onnx",
    "onnxruntime-gpu",
    "onnxruntime",
    "torch",
)


def version_rows() -> list[tuple[str, str]]:
    """(name, version) of Fieldcast, Python, Qt and the libraries it runs on; torch is not imported."""
    rows = [
        ("Fieldcast", fieldcast.__version__),
        ("Python", f"{platform.python_version()} ({sys.platform}, {platform.machine()})"),
        ("Qt", qVersion()),
        ("PySide6", pyside_version),
    ]
    for name in _PACKAGES:
        try:
            rows.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            if name == "torch":
                rows.append((name, "not installed (Player edition: plays exported models, cannot train)"))
    return rows


def detect_torch_device() -> str:
    """The device training would use (CUDA, then Apple MPS, then CPU).

    Imports torch: call it off the GUI thread.
    """
    if importlib.util.find_spec("torch") is None:
        return "no training device (torch not installed)"
    import torch

    if torch.cuda.is_available():
        return f"CUDA: {torch.cuda.get_device_name(0)}"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "Apple MPS"
    return f"CPU ({torch.get_num_threads()} threads)"


class AboutDialog(QDialog):
    """Fills in the torch device asynchronously so opening the dialog never waits for torch to import."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("about_dialog")
        self.setWindowTitle("About Fieldcast")
        rows = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in version_rows())
        usable = usable_providers()
        skipped = [p for p in listed_providers() if p not in usable]
        providers = ", ".join(usable)
        if skipped:
            providers += f"<br><i>built in but without a device here: {', '.join(skipped)}</i>"
        self.versions_label = QLabel(f"<h2>Fieldcast {fieldcast.__version__}</h2><table>{rows}</table>")
        self.providers_label = QLabel(f"<b>ONNX Runtime providers:</b> {providers}")
        self.device_label = QLabel("<b>Training device:</b> detecting…")
        for label in (self.versions_label, self.providers_label, self.device_label):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        box = QVBoxLayout(self)
        for w in (self.versions_label, self.providers_label, self.device_label, buttons):
            box.addWidget(w)
        self.device_task: asyncio.Future | None = None

    def start_device_detection(self) -> None:
        """Detect the device in a thread through the running asyncio (qasync) loop, or inline without one."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            self._set_device(detect_torch_device())
            return
        self.device_task = asyncio.ensure_future(self._detect(loop))

    async def _detect(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            device = await loop.run_in_executor(None, detect_torch_device)
        except Exception as exc:  # a broken torch install must not break About
            device = f"unknown ({type(exc).__name__}: {exc})"
        self._set_device(device)

    def _set_device(self, device: str) -> None:
        self.device = device
        self.device_label.setText(f"<b>Training device:</b> {device}")
