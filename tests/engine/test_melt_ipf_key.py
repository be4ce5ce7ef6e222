"""The melt system's IPF colours are the standard TSL key for cubic crystals, checked against orix.

orix (a crystallography library, a test dependency only) colours orientations that map sample to crystal,
the conjugate of Fieldcast's crystal -> sample quaternions; the test converts between the two so a mistake
in either the key or the sample-direction convention shows up.
"""

from __future__ import annotations

import numpy as np
from orix.plot import DirectionColorKeyTSL, IPFColorKeyTSL
from orix.quaternion import Orientation, symmetry
from orix.vector import Vector3d

from fieldcast.engine.systems.melt.ipf import ipf_colors, ipf_rgb, random_quaternions

TOLERANCE = 0.02  # RGB, per channel


def test_ipf_colours_of_random_orientations_match_the_tsl_key():
    q = random_quaternions(500, np.random.default_rng(21))
    ours = ipf_colors(q)
    reference = Orientation(q).inv()  # orix: sample -> crystal
    reference.symmetry = symmetry.Oh
    errors = []
    for i, axis in enumerate((Vector3d.xvector(), Vector3d.yvector(), Vector3d.zvector())):
        theirs = IPFColorKeyTSL(symmetry.Oh, direction=axis).orientation2color(reference)
        errors.append(np.abs(ours[:, 3 * i : 3 * i + 3] - theirs))
    err = np.stack(errors)
    print(f"RESULT ipf_max_rgb_err={err.max():.4f} ipf_mean_rgb_err={err.mean():.5f}")
    assert err.max() < TOLERANCE
    # The former linear key differed by 0.11 on average: the check is far tighter than that.
    assert err.mean() < 0.005


def test_named_directions_match_the_tsl_key():
    directions = np.array(
        [[0, 0, 1], [1, 0, 1], [1, 1, 1], [1, 1, 2], [2, 1, 3], [1, 0, 2], [1, 1, 3], [3, 1, 4], [0, -2, 1]],
        dtype=float,
    )
    theirs = DirectionColorKeyTSL(symmetry.Oh).direction2color(Vector3d(directions))
    np.testing.assert_allclose(ipf_rgb(directions), theirs, atol=TOLERANCE)
    # [112] lies on the [001]-[111] edge: magenta leaning to blue, not the linear key's (1, 0, 1).
    assert abs(ipf_rgb(np.array([1.0, 1.0, 2.0]))[0] - 0.66) < 0.01


def test_colours_of_many_directions_match_the_tsl_key():
    d = np.random.default_rng(5).standard_normal((3000, 3))
    theirs = DirectionColorKeyTSL(symmetry.Oh).direction2color(Vector3d(d))
    assert np.abs(ipf_rgb(d) - theirs).max() < TOLERANCE
