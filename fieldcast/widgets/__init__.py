"""Reusable Qt pieces (plots, canvases, previews). Qt, pyqtgraph and vispy only: never torch."""
