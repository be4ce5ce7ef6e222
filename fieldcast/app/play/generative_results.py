"""The pictures of the generative Play page: condition, denoising, reference, samples, mean, spread, error.

:class:`GenerationPictures` lays the maps out and draws what a generation sends: the reference when the
condition is ready, every sample's estimate of the clean map at each denoising step, and at the end the
samples, their mean, their per-pixel spread (the model's uncertainty) and the mean's error against the
reference, with the scores in one line under them. Data maps share one colour scale so they compare by
eye; the spread and the error have their own (magma, and a diverging map symmetric about zero).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from fieldcast.app.play.generative_job import DenoiseStep, GenerationResult
from fieldcast.app.play.generative_maps import MapView, shared_range

__all__ = ["GenerationPictures", "readout_text"]

_BIG = 240
_SMALL = 112


def readout_text(result: GenerationResult, units: str) -> str:
    """One line of what a generation gave: time, NMSE and SSIM of the mean, spread and its calibration."""
    m = result.metrics
    per_step = 1e3 * result.seconds / max(1, result.steps)
    parts = [
        f"{result.samples.shape[0]} samples, {result.steps} steps in {result.seconds:.2f} s "
        f"({per_step:.1f} ms per step)"
    ]
    if "nmse" in m:
        parts.append(
            f"mean vs reference: <b>NMSE {m['nmse']:.4f}</b>, <b>SSIM {m['ssim']:.3f}</b>, "
            f"RMSE {m['rmse']:.3g} {units}"
        )
    parts.append(f"mean spread {m.get('spread', 0.0):.3g} {units}")
    corr = m.get("spread_error_corr")
    if corr is not None and np.isfinite(corr):
        parts.append(f"spread–error correlation {corr:.2f}")
    return " · ".join(parts)


class GenerationPictures(QWidget):
    """Condition (editable), denoising and reference on top; the samples; mean, spread and error below."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.condition_view = MapView("Condition", "generative_condition", _BIG, colour_bar=False)
        self.condition_view.setCursor(Qt.CursorShape.CrossCursor)
        self.denoise_view = MapView("Denoising", "generative_denoise", _BIG)
        self.reference_view = MapView("Reference", "generative_reference", _BIG)
        self.mean_view = MapView("Mean of the samples", "generative_mean", _BIG)
        self.spread_view = MapView("Spread (std of the samples)", "generative_spread", _BIG)
        self.error_view = MapView("Mean − reference", "generative_error", _BIG)
        self.sample_views: list[MapView] = []
        self.steps_seen = 0  # denoising steps drawn since the last clear
        self.tail = 0.0  # percent of values the colour scales leave out at each end (see shared_range)
        self.samples_row = QHBoxLayout()
        self.samples_row.setContentsMargins(0, 0, 0, 0)
        self.samples_row.setSpacing(12)
        self.samples_row.addStretch(1)
        self.samples_title = QLabel("Samples", objectName="generative_samples_title")
        self.samples_title.setStyleSheet("font-weight:600;")
        self.readouts = QLabel(objectName="generative_readouts", wordWrap=True)
        self.readouts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        for i, view in enumerate((self.condition_view, self.denoise_view, self.reference_view)):
            grid.addWidget(view, 0, i)
        samples = QVBoxLayout()
        samples.addWidget(self.samples_title)
        samples.addLayout(self.samples_row)
        grid.addLayout(samples, 1, 0, 1, 3)
        for i, view in enumerate((self.mean_view, self.spread_view, self.error_view)):
            grid.addWidget(view, 2, i)
        grid.setColumnStretch(3, 1)  # the maps keep to the left, spare width goes to the right
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(grid)
        column.addWidget(self.readouts)
        column.addStretch(1)

    def clear_results(self) -> None:
        """Forget the last generation's maps (a new condition, or a cancelled generation)."""
        self.steps_seen = 0
        self.denoise_view.clear(
            "Press Generate: the model's estimate of the clean map shows here step by step"
        )
        self.denoise_view.set_title("Denoising")
        for view in (self.mean_view, self.spread_view, self.error_view):
            view.clear("Drawn when the samples are done")
        self.set_sample_count(0)
        self.readouts.setText("")

    def set_sample_count(self, n: int) -> None:
        while len(self.sample_views) < n:
            k = len(self.sample_views)
            view = MapView(f"Sample {k + 1}", f"generative_sample_{k}", _SMALL, colour_bar=False)
            self.sample_views.append(view)
            self.samples_row.insertWidget(k, view)
        for i, view in enumerate(self.sample_views):
            view.setVisible(i < n)
        self.samples_title.setText(
            "Samples (colours as the mean's)" if n else "Samples: press Generate to draw them"
        )

    def show_reference(self, reference: np.ndarray | None, cmap: str, units: str, label: str) -> None:
        """The reference's answer (None: not known yet)."""
        if reference is None:
            self.reference_view.clear("The reference generator's answer appears when you press Generate")
            self.reference_view.set_title("Reference")
            return
        self.reference_view.show_map(reference, cmap, shared_range(reference, tail=self.tail), units)
        self.reference_view.set_title(f"Reference ({label})" if label else "Reference")

    def show_step(self, step: DenoiseStep, reference: np.ndarray | None, cmap: str, units: str) -> None:
        """Every sample's estimate of the clean map after one denoising step, on the reference's scale."""
        clim = shared_range(reference if reference is not None else step.x0, tail=self.tail)
        self.steps_seen += 1
        self.denoise_view.set_title(f"Denoising: step {step.step} of {step.total}, estimate of sample 1")
        self.denoise_view.show_map(step.x0[0], cmap, clim, units)
        self.set_sample_count(step.x0.shape[0])
        for k, (view, x0) in enumerate(zip(self.sample_views, step.x0, strict=False)):
            view.show_map(x0, cmap, clim, units)
            view.set_title(f"Sample {k + 1} (step {step.step})")

    def show_result(self, result: GenerationResult, cmap: str, units: str) -> None:
        """Samples, mean, spread, reference and error of a finished generation, and its scores."""
        samples, mean, spread = result.samples, result.mean, result.spread
        clim = shared_range(result.reference, mean, tail=self.tail)
        self.denoise_view.set_title(f"Denoised: {result.steps} steps (sample 1)")
        self.denoise_view.show_map(samples[0], cmap, clim, units)
        self.set_sample_count(samples.shape[0])
        for k, (view, sample) in enumerate(zip(self.sample_views, samples, strict=False)):
            view.set_title(f"Sample {k + 1}")
            view.show_map(sample, cmap, clim, units)
        self.mean_view.set_title(f"Mean of {samples.shape[0]} samples")
        self.mean_view.show_map(mean, cmap, clim, units)
        top = float(np.percentile(spread, 99.5)) if spread.max() > 0 else 1.0
        self.spread_view.show_map(spread, "magma", (0.0, max(top, 1e-6)), units)
        if result.reference is not None:
            self.reference_view.show_map(result.reference, cmap, clim, units)
            self.reference_view.set_title(f"Reference ({result.reference_label})")
            error = mean - result.reference
            peak = max(float(np.percentile(np.abs(error), 99.5)), 1e-6)
            self.error_view.show_map(error, "coolwarm", (-peak, peak), units)
        self.readouts.setText(readout_text(result, units))
