"""Recordings and screenshots are written atomically: the file appears whole or not at all, and a failed
recording leaves the previous file as it was and no temporary file behind."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fieldcast.app.play.recorder import Recorder, mp4_available, save_png


def _frame(value: int, size=(24, 16)) -> np.ndarray:
    return np.full((*size, 3), value, np.uint8)


def test_gif_and_png_are_complete_files(tmp_path):
    rec = Recorder(tmp_path / "clip.gif", fps=10)
    for v in (0, 120, 240):
        rec.add(_frame(v))
    path = rec.stop()
    with Image.open(path) as im:
        assert im.n_frames == 3 and im.size == (16, 24)
    png = save_png(tmp_path / "shot.png", _frame(77))
    with Image.open(png) as im:
        assert np.asarray(im.convert("RGB"))[0, 0, 0] == 77
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.gif", "shot.png"]


class _Unreadable:
    """A frame whose pixels cannot be read (as when memory runs out while encoding)."""

    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("unreadable frame")


@pytest.mark.skipif(not mp4_available(), reason="imageio-ffmpeg not installed")
def test_a_failed_mp4_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "clip.mp4"
    rec = Recorder(target, fps=10)
    for v in (0, 100, 200, 250):
        rec.add(_frame(v))
    rec.stop()
    before = target.read_bytes()
    assert before[4:8] == b"ftyp"  # an MP4 container although the encoder wrote to a temporary name
    broken = Recorder(target, fps=10)
    broken.add(_frame(10))
    broken.add(_Unreadable())  # the recording fails half way through
    with pytest.raises(RuntimeError, match="unreadable"):
        broken.stop()
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
