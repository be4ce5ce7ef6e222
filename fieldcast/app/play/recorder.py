"""Recording the Play canvas to GIF or MP4, and screenshots, from frames coloured without OpenGL.

Frames are coloured with the canvas's colour maps (:mod:`fieldcast.widgets.field_colors`) at grid
resolution and scaled up by whole pixels, so recordings are sharp and work on machines without a GPU.
GIFs are written with Pillow; MP4 needs the optional ``imageio-ffmpeg`` package (it ships its own ffmpeg).
Every file is written atomically (``fieldcast.engine.files``): a reader never sees half a recording.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from fieldcast.engine.files import atomic_path, atomic_write
from fieldcast.widgets.field_colors import blend, colorize, overlay_rgba

__all__ = ["Recorder", "mp4_available", "render_rgb", "save_png"]


def mp4_available() -> bool:
    """True when MP4 recording is possible (imageio-ffmpeg installed)."""
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


def render_rgb(
    field: np.ndarray,
    cmap: str,
    clim: tuple[float, float],
    emitter: np.ndarray | None = None,
    collider: np.ndarray | None = None,
    min_size: int = 384,
) -> np.ndarray:
    """(h, w, 3) uint8 picture of an (nx, ny) field with control overlays, scaled to at least ``min_size``."""
    rgb = colorize(field, cmap, clim)
    if emitter is not None and collider is not None:
        rgb = blend(rgb, overlay_rgba(emitter, collider))
    scale = max(1, -(-min_size // max(rgb.shape[:2])))
    # Even sizes: H.264 encoders refuse odd widths and heights.
    return np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)[
        : rgb.shape[0] * scale // 2 * 2, : rgb.shape[1] * scale // 2 * 2
    ]


def save_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write (h, w, 3 or 4) uint8 pixels to a PNG file (atomically)."""
    from PIL import Image

    path = Path(path)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG")
    atomic_write(path, buffer.getvalue())
    return path


class Recorder:
    """Collects frames while recording and writes them to ``path`` (``.gif`` or ``.mp4``) on :meth:`stop`.

    Parameters
    ----------
    path : output file; the suffix picks the format.
    fps : playback rate of the file, frames per second.
    max_frames : recording stops taking frames beyond this (memory bound; 1200 frames at 384² ≈ 530 MB).
    """

    def __init__(self, path: str | Path, fps: float = 30.0, max_frames: int = 1200) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in (".gif", ".mp4"):
            raise ValueError(f"{self.path.name}: record to a .gif or .mp4 file")
        if self.path.suffix.lower() == ".mp4" and not mp4_available():
            raise ValueError("MP4 recording needs the imageio-ffmpeg package; record a GIF instead")
        self.fps = fps
        self.max_frames = max_frames
        self.frames: list[np.ndarray] = []

    @property
    def full(self) -> bool:
        return len(self.frames) >= self.max_frames

    def add(self, rgb: np.ndarray) -> None:
        """Append one (h, w, 3) uint8 picture (ignored once :attr:`full`)."""
        if not self.full:
            self.frames.append(rgb)

    def stop(self) -> Path:
        """Write the file; ValueError when nothing was recorded."""
        if not self.frames:
            raise ValueError("nothing was recorded (play the simulation while recording)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.suffix.lower() == ".gif":
            self._write_gif()
        else:
            self._write_mp4()
        return self.path

    def _write_gif(self) -> None:
        from PIL import Image

        images = [Image.fromarray(f) for f in self.frames]
        duration = max(20, int(round(1000 / self.fps)))
        buffer = io.BytesIO()
        images[0].save(
            buffer,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=duration,
            loop=0,
            optimize=False,
        )
        atomic_write(self.path, buffer.getvalue())

    def _write_mp4(self) -> None:
        import imageio_ffmpeg

        h, w = self.frames[0].shape[:2]
        # The encoder writes a file of its own; it becomes the recording only once it is complete.
        with atomic_path(self.path) as tmp:
            writer = imageio_ffmpeg.write_frames(
                str(tmp),
                (w, h),
                fps=self.fps,
                codec="libx264",
                pix_fmt_out="yuv420p",
                quality=7,
                macro_block_size=2,
                output_params=["-f", "mp4"],  # the temporary name does not end in .mp4
            )
            writer.send(None)  # start the encoder
            try:
                for frame in self.frames:
                    writer.send(np.ascontiguousarray(frame))
            finally:
                writer.close()
