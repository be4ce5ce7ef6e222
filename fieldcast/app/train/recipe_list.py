"""The recipe list of the Train panel: the dataset's default recipe first, then every shipped recipe under
a heading per system (headings cannot be chosen)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QComboBox

from fieldcast.app.train.recipes import DEFAULT_ENTRY, recipe_system, recipe_task, shipped_recipes
from fieldcast.app.train.texts import task_title

__all__ = ["DEFAULT_LABEL", "fill_recipe_combo"]

DEFAULT_LABEL = "Default for this dataset"


def fill_recipe_combo(combo: QComboBox) -> None:
    """Fill ``combo``: item data is a recipe file path, or :data:`DEFAULT_ENTRY` for the default recipe."""
    bold = QFont()
    bold.setBold(True)
    combo.addItem(DEFAULT_LABEL, DEFAULT_ENTRY)
    combo.setItemData(
        0,
        "A recipe built from the chosen dataset's own fields (a UNet rollout for fields, a streaming LSTM"
        " for samples), to edit below before Start",
        Qt.ItemDataRole.ToolTipRole,
    )
    heading_of = None
    for path in shipped_recipes():
        system = recipe_system(path)
        if system != heading_of:
            heading_of = system
            combo.addItem(system or "other")
            heading = combo.model().item(combo.count() - 1)
            heading.setEnabled(False)
            heading.setFont(bold)
        combo.addItem(path.stem, str(path))
        tip = f"{system} · {task_title(recipe_task(path))} · {path}"
        combo.setItemData(combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
    combo.setCurrentIndex(-1)
    combo.setPlaceholderText("choose a recipe")
