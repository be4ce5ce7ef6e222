"""The application log: one rotating file in the user's log folder, plus warnings on stderr."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

__all__ = ["setup_logging"]

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(log_file: Path, level: int = logging.INFO) -> Path:
    """Send the ``fieldcast`` loggers to ``log_file`` (rotated at 2 MB, 3 kept); returns the file path."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger("fieldcast")
    root.setLevel(level)
    for handler in list(root.handlers):
        if getattr(handler, "_fieldcast", False):
            root.removeHandler(handler)
            handler.close()
    file_handler = logging.handlers.RotatingFileHandler(
        log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
    )
    file_handler.setFormatter(logging.Formatter(_FORMAT))
    file_handler._fieldcast = True  # type: ignore[attr-defined]
    root.addHandler(file_handler)
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    console._fieldcast = True  # type: ignore[attr-defined]
    root.addHandler(console)
    logging.captureWarnings(True)
    return log_file
