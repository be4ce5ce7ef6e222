"""The model picker: reference solver, shipped default model, models exported from runs, opened files.

It lists candidates and their exported variants (fp32, fp16, INT8) and the execution providers this machine
can use; it never loads a model itself. The panel opens the chosen one in the page that fits it and reports
back with :meth:`ModelPicker.set_active` or :meth:`ModelPicker.revert`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QWidget

from fieldcast.resources import resource_path

__all__ = ["SOLVER", "ModelPicker", "default_model_path", "run_models"]

#: the picker entry that plays the reference solver instead of a model
SOLVER = ""


def default_model_path() -> Path | None:
    """The shipped default smoke model, or None when this build has none."""
    path = resource_path("models", "smoke_default.onnx")
    return path if path.is_file() else None


def run_models(runs: Path | None) -> list[Path]:
    """Models exported from runs: ``<runs>/*/model*.onnx`` without the fp16/INT8 siblings, newest first."""
    if runs is None or not runs.is_dir():
        return []
    found = [p for p in runs.glob("*/model*.onnx") if ".fp16" not in p.name and ".int8" not in p.name]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def _variants(path: Path) -> dict[str, Path]:
    from fieldcast.engine.runtime import find_variants

    variants = find_variants(path) if path.name.startswith("model") else {}
    # A file not named like an export (e.g. smoke_default.onnx) is its own single fp32 variant.
    return variants or {"fp32": path}


class ModelPicker(QGroupBox):
    """Model, variant and execution provider choosers, with the providers in use shown below.

    Parameters
    ----------
    runs : the runs folder, whose exported models are offered.
    builtin : also offer the reference solver and the shipped smoke model (the smoke page's picker).
    """

    sig_model_requested = Signal(str, str)
    """The user chose (model path, or SOLVER for the reference solver; provider name)."""

    def __init__(self, runs: Path | None = None, builtin: bool = True, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        self.runs = runs
        self.builtin = builtin
        self.extra: list[Path] = []
        self._active = (SOLVER, "")
        self.model_combo = QComboBox()
        self.model_combo.setMinimumContentsLength(18)
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.variant_combo = QComboBox()
        self.provider_combo = QComboBox()
        self.device_label = QLabel("CPU (numpy)")
        self.device_label.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow("Model", self.model_combo)
        form.addRow("Variant", self.variant_combo)
        form.addRow("Provider", self.provider_combo)
        form.addRow("In use", self.device_label)
        self._fill_providers()
        self.refresh()
        self.model_combo.activated.connect(self._on_model_activated)
        self.variant_combo.activated.connect(self._on_choice_changed)
        self.provider_combo.activated.connect(self._on_choice_changed)

    def _fill_providers(self) -> None:
        from fieldcast.engine.devices import usable_providers

        for name in usable_providers():
            self.provider_combo.addItem(name.removesuffix("ExecutionProvider"), name)

    def refresh(self) -> None:
        """Rescan the default model, the runs folder and the opened files."""
        current = self.model_combo.currentData()
        self.model_combo.clear()
        if self.builtin:
            self.model_combo.addItem("Reference solver", SOLVER)
            default = default_model_path()
            if default is not None:
                self.model_combo.addItem("Default smoke model", str(default))
        else:
            self.model_combo.addItem("— choose a model —", SOLVER)
        for path in run_models(self.runs):
            self.model_combo.addItem(f"Run {path.parent.name}", str(path))
        for path in self.extra:
            self.model_combo.addItem(path.name, str(path))
        index = self.model_combo.findData(current if current is not None else self._active[0])
        self.model_combo.setCurrentIndex(max(index, 0))
        self._fill_variants()

    def add_file(self, path: Path) -> None:
        """Offer an opened or dropped model (once) and select it."""
        path = Path(path)
        if path not in self.extra:
            self.extra.append(path)
        self.refresh()
        self.model_combo.setCurrentIndex(self.model_combo.findData(str(path)))
        self._fill_variants()

    def _fill_variants(self) -> None:
        self.variant_combo.clear()
        data = self.model_combo.currentData()
        if not data:
            self.variant_combo.addItem("—", SOLVER)
            self.variant_combo.setEnabled(False)
            self.provider_combo.setEnabled(False)
            return
        for variant, path in _variants(Path(data)).items():
            self.variant_combo.addItem(variant, str(path))
        if self.variant_combo.findData(data) >= 0:
            self.variant_combo.setCurrentIndex(self.variant_combo.findData(data))
        self.variant_combo.setEnabled(self.variant_combo.count() > 1)
        self.provider_combo.setEnabled(True)

    @property
    def model_path(self) -> str:
        """The chosen file (variant), or SOLVER."""
        return self.variant_combo.currentData() or SOLVER

    @property
    def provider(self) -> str:
        return self.provider_combo.currentData() or ""

    def set_active(self, path: str, providers_in_use: str) -> None:
        """The panel now plays ``path`` (or SOLVER) on ``providers_in_use``."""
        self._active = (path, self.provider)
        self.device_label.setText(providers_in_use)

    def revert(self) -> None:
        """Show the model that is really playing again (after a failed load)."""
        path = self._active[0]
        index = self.model_combo.findData(path)
        if index < 0:  # a variant: select its fp32 parent
            index = next(
                (
                    i
                    for i in range(self.model_combo.count())
                    if self.model_combo.itemData(i)
                    and Path(self.model_combo.itemData(i)).parent == Path(path).parent
                ),
                0,
            )
        self.model_combo.setCurrentIndex(index)
        self._fill_variants()
        v = self.variant_combo.findData(path)
        if v >= 0:
            self.variant_combo.setCurrentIndex(v)

    def _on_model_activated(self) -> None:
        self._fill_variants()
        self._on_choice_changed()

    def _on_choice_changed(self) -> None:
        self.sig_model_requested.emit(self.model_path, self.provider)
