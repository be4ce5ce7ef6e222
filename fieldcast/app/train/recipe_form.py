"""The recipe form: the settings a user changes most, checked as they type, and the curriculum stages.

The form edits plain recipe dictionaries (one per curriculum stage, as ``recipe_to_dict`` gives them), so
it needs no torch. Shared settings show the last stage's value; a shared setting the user changes is written
into every stage. Each field explains what is wrong with it right under the field.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

__all__ = ["RecipeForm", "get_key", "set_key"]

_ERROR_STYLE = "border: 1px solid #c0392b; border-radius: 2px;"
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def get_key(data: dict, key: str, default: Any = None) -> Any:
    """``data["a"]["b"]`` for key ``"a.b"``; ``default`` when a level is missing."""
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return default
        data = data[part]
    return data


def set_key(data: dict, key: str, value: Any) -> None:
    """Set ``data["a"]["b"] = value`` for key ``"a.b"``, creating levels as needed."""
    *parents, last = key.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    data[last] = value


def _number(kind: type, minimum: float, strict: bool, optional: bool = False) -> Callable[[str], Any]:
    """A parser of typed text returning the value or raising ValueError with the reason."""

    def parse(text: str) -> Any:
        text = text.strip()
        if not text:
            if optional:
                return None
            raise ValueError("a value is required")
        try:
            value = int(text) if kind is int else float(text)
        except ValueError:
            raise ValueError("must be a whole number" if kind is int else "must be a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("must be a finite number")
        if (strict and value <= minimum) or value < minimum:
            raise ValueError(f"must be {'>' if strict else '≥'} {minimum:g}")
        return value

    return parse


def _device(text: str) -> str:
    if not _DEVICE.match(text.strip()):
        raise ValueError("use auto, cpu, cuda, cuda:N or mps")
    return text.strip()


def _identifier(text: str) -> str:
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", text.strip()):
        raise ValueError("a model family name, e.g. unet")
    return text.strip()


@dataclass(frozen=True)
class _Field:
    key: str
    label: str
    parse: Callable[[str], Any] | None = None  # text fields
    choices: tuple[str, ...] = ()  # combo boxes (editable when parse is set)
    tip: str = ""


_SHARED = (
    _Field("model.name", "model family", _identifier, ("unet",), "registered model family"),
    _Field("model.args.depth", "depth", _number(int, 0, False), tip="stride-2 downsamplings of the UNet"),
    _Field("model.args.base_width", "base width", _number(int, 1, False), tip="channels at full resolution"),
    _Field("rollout.gamma", "rollout weight decay γ", _number(float, 0, True), tip="step k weighs γ^k"),
    _Field("rollout.truncate", "truncate gradients", tip="detach each prediction before it is fed back"),
    _Field("loss.mse", "MSE weight", _number(float, 0, False)),
    _Field("loss.mae", "MAE weight", _number(float, 0, False)),
    _Field("loss.divergence", "divergence weight", _number(float, 0, False)),
    _Field("loss.gradient", "gradient weight", _number(float, 0, False)),
    _Field("optim.name", "optimiser", choices=("adam", "adamw")),
    _Field("optim.weight_decay", "weight decay", _number(float, 0, False)),
    _Field("optim.grad_clip", "gradient clip", _number(float, 0, True, optional=True), tip="empty: none"),
    _Field("scheduler.name", "scheduler", choices=("none", "cosine_restarts", "plateau", "linear")),
    _Field("scheduler.warmup_steps", "warm-up steps", _number(int, 0, False)),
    _Field("data.batch_size", "batch size", _number(int, 1, False)),
    _Field("train.max_steps", "max steps per stage", _number(int, 1, False, optional=True), tip="empty: all"),
    _Field("train.amp", "mixed precision (CUDA)"),
    _Field("train.device", "device", _device, ("auto", "cpu", "cuda", "mps")),
)
_LOSSES = ("loss.mse", "loss.mae", "loss.divergence", "loss.gradient", "loss.hybrid")

#: per-stage columns of the curriculum table: (key, header, parser)
STAGE_COLUMNS = (
    ("rollout.steps", "K steps", _number(int, 1, False)),
    ("train.epochs", "epochs", _number(int, 1, False)),
    ("optim.lr", "learning rate", _number(float, 0, True)),
)


def _text(value: Any) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


class RecipeForm(QWidget):
    """Edit the stages of a curriculum; :meth:`stages` returns them with the edits applied."""

    sig_changed = Signal()
    """A value changed (whether or not it is valid)."""
    sig_validity_changed = Signal(bool)
    """The form became valid (True) or invalid (False)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._stages: list[dict] = []
        self._values: dict[str, Any] = {}
        self._touched: set[str] = set()
        self._errors: dict[str, str] = {}
        self._external: dict[str, str] = {}
        self._valid = True
        self._loading = False
        self.editors: dict[str, QWidget] = {}
        self.error_labels: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for spec in _SHARED:
            form.addRow(spec.label, self._make_row(spec))
        self.stage_table = QTableWidget(0, len(STAGE_COLUMNS))
        self.stage_table.setObjectName("stage_table")
        self.stage_table.setHorizontalHeaderLabels([h for _, h, _ in STAGE_COLUMNS])
        self.stage_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.stage_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.stage_table.itemChanged.connect(self._on_stage_item_changed)
        self.general_error = QLabel()
        self.general_error.setObjectName("recipe_error")
        self.general_error.setWordWrap(True)
        self.general_error.setStyleSheet("color: #c0392b;")
        self.general_error.hide()
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(QLabel("<b>Curriculum stages</b> (trained in order, each from the previous best)"))
        box.addWidget(self.stage_table)
        box.addLayout(form)
        box.addWidget(self.general_error)

    # Building -----------------------------------------------------------------------------------------
    def _make_row(self, spec: _Field) -> QWidget:
        if spec.parse is None and not spec.choices:
            editor: QWidget = QCheckBox()
            editor.toggled.connect(lambda _v, k=spec.key: self._on_editor_changed(k))
        elif spec.choices:
            editor = QComboBox()
            editor.setEditable(spec.parse is not None)
            editor.addItems(list(spec.choices))
            editor.currentTextChanged.connect(lambda _t, k=spec.key: self._on_editor_changed(k))
        else:
            editor = QLineEdit()
            editor.textChanged.connect(lambda _t, k=spec.key: self._on_editor_changed(k))
        editor.setObjectName(f"field:{spec.key}")
        editor.setToolTip(spec.tip)
        error = QLabel()
        error.setStyleSheet("color: #c0392b; font-size: 9pt;")
        error.setWordWrap(True)
        error.hide()
        self.editors[spec.key], self.error_labels[spec.key] = editor, error
        row = QWidget()
        col = QVBoxLayout(row)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(1)
        col.addWidget(editor)
        col.addWidget(error)
        return row

    def set_stages(self, stages: list[dict]) -> None:
        """Show ``stages`` (full recipe dictionaries, first stage first) and forget earlier edits."""
        self._loading = True
        self._stages = [copy.deepcopy(s) for s in stages]
        self._touched.clear()
        self._external.clear()
        last = self._stages[-1] if self._stages else {}
        for spec in _SHARED:
            self._show_value(spec, get_key(last, spec.key))
        self.stage_table.setRowCount(len(self._stages))
        self.stage_table.setVerticalHeaderLabels(
            [s.get("name") or f"stage {i + 1}" for i, s in enumerate(stages)]
        )
        for row, stage in enumerate(self._stages):
            for col, (key, _, _) in enumerate(STAGE_COLUMNS):
                self.stage_table.setItem(row, col, QTableWidgetItem(_text(get_key(stage, key))))
        table = self.stage_table
        rows = sum(table.rowHeight(r) for r in range(table.rowCount()))
        table.setFixedHeight(table.horizontalHeader().height() + rows + 2 * table.frameWidth())
        self._loading = False
        self._revalidate()

    def _show_value(self, spec: _Field, value: Any) -> None:
        editor = self.editors[spec.key]
        if isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QComboBox):
            text = _text(value) or spec.choices[0]
            if editor.findText(text) < 0:
                editor.addItem(text)
            editor.setCurrentText(text)
        else:
            editor.setText(_text(value))

    # Reading ------------------------------------------------------------------------------------------
    def stages(self) -> list[dict]:
        """The stages with every edit applied (copies)."""
        out = [copy.deepcopy(s) for s in self._stages]
        for key in self._touched:
            if key in self._values:
                for stage in out:
                    set_key(stage, key, self._values[key])
        for row, stage in enumerate(out):
            for col, (key, _, parse) in enumerate(STAGE_COLUMNS):
                item = self.stage_table.item(row, col)
                try:
                    set_key(stage, key, parse(item.text()))
                except ValueError:
                    continue
        return out

    def errors(self) -> dict[str, str]:
        """Reasons by field key (``stage N: key`` for curriculum cells), own checks and external ones."""
        return {**self._errors, **self._external}

    def is_valid(self) -> bool:
        return not self.errors()

    def set_external_errors(self, errors: dict[str, str]) -> None:
        """Mark fields found wrong by a stricter check (the recipe loader); {} clears them."""
        self._external = dict(errors)
        self._revalidate()

    # Checking -----------------------------------------------------------------------------------------
    def _read_editor(self, spec: _Field) -> Any:
        editor = self.editors[spec.key]
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        text = editor.currentText() if isinstance(editor, QComboBox) else editor.text()
        return spec.parse(text) if spec.parse else text

    def _revalidate(self) -> None:
        self._errors = {}
        for spec in _SHARED:
            try:
                self._values[spec.key] = self._read_editor(spec)
            except ValueError as exc:
                self._errors[spec.key] = str(exc)
        if not self._errors.keys() & set(_LOSSES):
            weights = [
                self._values.get(k, get_key(self._stages[-1], k, 0.0)) if self._stages else 0 for k in _LOSSES
            ]
            if self._stages and not any((w or 0) > 0 for w in weights):
                self._errors["loss.mse"] = "at least one loss weight must be > 0"
        self._check_stage_cells()
        self._paint_errors()
        valid = self.is_valid()
        if valid != self._valid:
            self._valid = valid
            self.sig_validity_changed.emit(valid)

    def _check_stage_cells(self) -> None:
        keep = self.stage_table.blockSignals(True)
        for row in range(self.stage_table.rowCount()):
            for col, (_, header, parse) in enumerate(STAGE_COLUMNS):
                item = self.stage_table.item(row, col)
                if item is None:
                    continue
                try:
                    parse(item.text())
                    item.setBackground(QBrush())
                    item.setToolTip("")
                except ValueError as exc:
                    self._errors[f"stage {row + 1}: {header}"] = str(exc)
                    item.setBackground(QBrush(QColor("#f6d5d1")))
                    item.setToolTip(str(exc))
        self.stage_table.blockSignals(keep)

    def _paint_errors(self) -> None:
        errors = self.errors()
        general = []
        for key, reason in errors.items():
            if key not in self.editors:
                general.append(f"{key}: {reason}")
        for key, editor in self.editors.items():
            reason = errors.get(key)
            self.error_labels[key].setText(reason or "")
            self.error_labels[key].setVisible(bool(reason))
            editor.setStyleSheet(_ERROR_STYLE if reason else "")
        self.general_error.setText("\n".join(general))
        self.general_error.setVisible(bool(general))

    # Slots --------------------------------------------------------------------------------------------
    def _on_editor_changed(self, key: str) -> None:
        if self._loading:
            return
        self._touched.add(key)
        self._external.pop(key, None)
        self._revalidate()
        self.sig_changed.emit()

    def _on_stage_item_changed(self, _item: QTableWidgetItem) -> None:
        if self._loading:
            return
        self._external = {k: v for k, v in self._external.items() if not k.startswith("stage ")}
        self._revalidate()
        self.sig_changed.emit()
