"""The recipe form: the settings a user changes most, checked as they type, and the curriculum stages.

It edits recipes of every task: the rows follow the recipe's ``task`` (field rollout, recurrent field,
sequence) and model family.

The form edits plain recipe dictionaries (one per curriculum stage, as ``recipe_to_dict`` gives them), so
it needs no torch. Shared settings show the last stage's value; a shared setting the user changes is written
into every stage. Each field explains what is wrong with it right under the field.
"""

from __future__ import annotations

import copy
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

from fieldcast.app.train.recipe_fields import (
    FIELDS,
    LOSS_WEIGHTS,
    STAGE_COLUMNS,
    Field,
    drop_key,
    get_key,
    set_key,
    value_text,
)

__all__ = ["STAGE_COLUMNS", "RecipeForm", "get_key", "set_key"]

_ERROR_STYLE = "border: 1px solid #c0392b; border-radius: 2px;"


class RecipeForm(QWidget):
    """Edit the stages of a curriculum; :meth:`stages` returns them with the edits applied.

    The rows shown follow the recipe's task and model family (a ConvLSTM has no UNet depth, a sequence
    task no rollout weights); only the rows shown are checked and written.
    """

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
        self._rows: dict[str, QWidget] = {}
        self._specs = {spec.key: spec for spec in FIELDS}
        self.form_layout = QFormLayout()
        self.form_layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for spec in FIELDS:
            self._rows[spec.key] = self._make_row(spec)
            self.form_layout.addRow(spec.label, self._rows[spec.key])
        self.stage_table = QTableWidget(0, len(STAGE_COLUMNS))
        self.stage_table.setObjectName("stage_table")
        self.stage_table.setHorizontalHeaderLabels([h for _, h, _, _ in STAGE_COLUMNS])
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
        box.addLayout(self.form_layout)
        box.addWidget(self.general_error)

    # Building -----------------------------------------------------------------------------------------
    def _make_row(self, spec: Field) -> QWidget:
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
        for spec in FIELDS:
            self._show_value(spec, get_key(last, spec.key))
        self.stage_table.setRowCount(len(self._stages))
        self.stage_table.setVerticalHeaderLabels(
            [s.get("name") or f"stage {i + 1}" for i, s in enumerate(stages)]
        )
        for row, stage in enumerate(self._stages):
            for col, (key, _, _, _) in enumerate(STAGE_COLUMNS):
                self.stage_table.setItem(row, col, QTableWidgetItem(value_text(get_key(stage, key))))
        table = self.stage_table
        rows = sum(table.rowHeight(r) for r in range(table.rowCount()))
        table.setFixedHeight(table.horizontalHeader().height() + rows + 2 * table.frameWidth())
        self._loading = False
        self._revalidate()

    def _show_value(self, spec: Field, value: Any) -> None:
        editor = self.editors[spec.key]
        text = (spec.show or value_text)(value)
        if isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QComboBox):
            text = text or spec.choices[0]
            if editor.findText(text) < 0:
                editor.addItem(text)
            editor.setCurrentText(text)
        else:
            editor.setText(text)

    # Reading ------------------------------------------------------------------------------------------
    def task(self) -> str:
        """The task the form trains now (as edited)."""
        value = self._values.get("task") if "task" in self._touched else None
        if value is None:
            value = get_key(self._stages[-1], "task") if self._stages else None
        return str(value or "field_rollout")

    def applies(self, key: str) -> bool:
        """Whether field ``key`` belongs to the recipe as edited now (its row is shown)."""
        spec = self._specs[key]
        if spec.tasks and self.task() not in spec.tasks:
            return False
        if spec.family is not None:
            family = self._values.get("model.name") if "model.name" in self._touched else None
            family = family or (get_key(self._stages[-1], "model.name") if self._stages else None)
            return family == spec.family
        return True

    def stages(self) -> list[dict]:
        """The stages with every edit applied (copies)."""
        out = [copy.deepcopy(s) for s in self._stages]
        for key in self._touched:
            if key not in self._values or not self.applies(key):
                continue
            value = self._values[key]
            for stage in out:
                if value is None and self._specs[key].drop_empty:
                    drop_key(stage, key)
                else:
                    set_key(stage, key, value)
        for row, stage in enumerate(out):
            for col, (key, _, parse, _) in enumerate(STAGE_COLUMNS):
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
    def _read_editor(self, spec: Field) -> Any:
        editor = self.editors[spec.key]
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        text = editor.currentText() if isinstance(editor, QComboBox) else editor.text()
        return spec.parse(text) if spec.parse else text

    def _revalidate(self) -> None:
        self._errors = {}
        for spec in FIELDS:
            try:
                self._values[spec.key] = self._read_editor(spec)
            except ValueError as exc:
                self._values.pop(spec.key, None)
                self._errors[spec.key] = str(exc)
        for spec in FIELDS:  # visibility depends on the task and family just read
            shown = self.applies(spec.key)
            self.form_layout.setRowVisible(self._rows[spec.key], shown)
            if not shown:
                self._errors.pop(spec.key, None)
        self._check_losses()
        self._check_stage_cells()
        self._paint_errors()
        valid = self.is_valid()
        if valid != self._valid:
            self._valid = valid
            self.sig_validity_changed.emit(valid)

    def _check_losses(self) -> None:
        keys = LOSS_WEIGHTS.get(self.task(), LOSS_WEIGHTS["field_rollout"])
        if not self._stages or self._errors.keys() & set(keys):
            return
        last = self._stages[-1]
        weights = [self._values.get(k) if k in self._touched else get_key(last, k, 0.0) for k in keys]
        if not any((w or 0) > 0 for w in weights):
            self._errors[keys[0]] = "at least one loss weight must be > 0"

    def _check_stage_cells(self) -> None:
        keep = self.stage_table.blockSignals(True)
        task = self.task()
        for col, (_, _, _, tasks) in enumerate(STAGE_COLUMNS):
            self.stage_table.setColumnHidden(col, bool(tasks) and task not in tasks)
        for row in range(self.stage_table.rowCount()):
            for col, (_, header, parse, tasks) in enumerate(STAGE_COLUMNS):
                item = self.stage_table.item(row, col)
                if item is None or (tasks and task not in tasks):
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
