"""A procedural cardiac-cine phantom: short-axis frames from end-diastole (ED) to end-systole
(ES) with every frame's labels known, so generated intermediate frames have ground truth.

Each subject is a body cross-section with an LV blood pool inside a myocardial ring and an RV
crescent beside it. From ED to ES the LV cavity shrinks by the subject's fractional shortening
along a smooth (1 - cos) profile, the myocardium thickens so that its area is conserved (the
wall is incompressible) and the RV narrows; frames are rendered with partial volume at every
boundary (a Gaussian point-spread of half a pixel), MR-like intensities (bright blood, grey
myocardium, textured surroundings, a bright fat rim) and Rician noise. Labels follow ACDC:
1 RV, 2 myocardium, 3 LV. With ``depth`` the heart tapers towards the apex through the slices
(2D+t by default, 3D+t as an option).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.special import erfc

# ACDC's label values.
RV, MYO, LV = 1, 2, 3
STRUCTURES = {RV: "RV", MYO: "MYO", LV: "LV"}
# Signal of each compartment (blood is bright in balanced SSFP cine).
INTENSITY = {"outside": 0.0, "body": 0.22, "fat": 0.65, "myocardium": 0.32, "blood": 0.88}
PSF = 0.5  # pixels
UNLABELLED = 255  # a frame without ground truth (ACDC labels ED and ES only)


@dataclass
class CineSubject:
    """One cine: ``frames`` float32 (F, H, W) or (F, H, W, D) in [0, 1], ``labels`` uint8 of the
    same shape (ACDC classes; :data:`UNLABELLED` where a frame has none), ED the first frame,
    ES the last."""

    name: str
    frames: np.ndarray
    labels: np.ndarray


def _fraction(distance: np.ndarray) -> np.ndarray:
    """Share of a pixel inside a boundary at signed distance ``distance`` (negative inside)."""
    return 0.5 * erfc(distance / (PSF * np.sqrt(2)))


def _ellipse_distance(x, y, centre, radii, angle):
    """Approximate signed distance (pixels) to an ellipse: radial distance scaled by the radius."""
    c, s = np.cos(angle), np.sin(angle)
    u, v = (x - centre[0]) * c + (y - centre[1]) * s, -(x - centre[0]) * s + (y - centre[1]) * c
    r = np.hypot(u / radii[0], v / radii[1])
    return (r - 1) * np.sqrt(radii[0] * radii[1])


def cine_subject(seed: int, index: int, *, size: int = 64, frames: int = 10, depth: int | None = None,
                 noise: float = 0.03) -> CineSubject:
    """Render one phantom subject.

    Args:
        seed: the dataset's seed.
        index: the subject's number (the same (seed, index) always gives the same subject).
        size: frame width and height in pixels.
        frames: frames from ED to ES, both included (at least 2).
        depth: slices base to apex (None: one mid-ventricular slice, 2D+t).
        noise: Rician noise level relative to the blood signal.
    """
    if frames < 2:
        raise ValueError(f"a cine needs at least ED and ES: frames {frames}")
    rng = np.random.default_rng([seed, index])
    scale = size / 64
    centre = np.array([size / 2, size / 2]) + rng.uniform(-3, 3, 2) * scale
    angle = rng.uniform(0, np.pi)
    endo0 = rng.uniform(9.0, 12.0) * scale
    wall0 = rng.uniform(3.5, 5.0) * scale
    shortening = rng.uniform(0.25, 0.4)  # fractional shortening of the LV radius
    rv_shift = np.array([np.cos(angle + np.pi / 2), np.sin(angle + np.pi / 2)]) * (endo0 + wall0) * 0.75
    rv_radii0 = (endo0 + wall0) * np.array([rng.uniform(0.7, 0.85), rng.uniform(1.05, 1.25)])
    body_radii = np.array([rng.uniform(26, 29), rng.uniform(21, 25)]) * scale
    texture = gaussian_filter(rng.standard_normal((size, size)), 3 * scale) * 0.8
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    slices = [0.0] if depth is None else np.linspace(0.0, 0.85, depth)  # 0: base .. 0.85: near the apex
    phases = (1 - np.cos(np.pi * np.linspace(0.0, 1.0, frames))) / 2
    images = np.zeros((frames, size, size, len(slices)), np.float32)
    labels = np.zeros((frames, size, size, len(slices)), np.uint8)
    for k, z in enumerate(slices):
        taper = np.sqrt(1 - z**2)
        body = _ellipse_distance(xs, ys, (size / 2, size / 2), body_radii, 0.0)
        for f, phase in enumerate(phases):
            endo = endo0 * taper * (1 - shortening * phase)
            epi = np.sqrt(endo**2 + (endo0 + wall0) ** 2 * taper**2 - (endo0 * taper) ** 2)  # area conserved
            lv = _ellipse_distance(xs, ys, centre, (endo, endo * 0.95), angle)
            heart = _ellipse_distance(xs, ys, centre, (epi, epi * 0.95), angle)
            rv_radii = rv_radii0 * taper * (1 - 0.5 * shortening * phase)
            rv = _ellipse_distance(xs, ys, centre + rv_shift * taper, rv_radii, angle)
            rv = np.maximum(rv, -(heart - 1.5 * scale))  # a crescent: the septum stays myocardium
            inside_body, fat = _fraction(body), _fraction(body) - _fraction(body + 2.0 * scale)
            blood = _fraction(lv) + _fraction(rv) * (1 - _fraction(heart))
            wall = _fraction(heart) - _fraction(lv)
            rest = np.clip(inside_body - fat - blood - wall, 0, None)
            signal = (INTENSITY["fat"] * fat + INTENSITY["blood"] * blood + INTENSITY["myocardium"] * wall
                      + INTENSITY["body"] * rest * (1 + texture))
            noisy = np.hypot(signal + rng.normal(0, noise, signal.shape), rng.normal(0, noise, signal.shape))
            images[f, :, :, k] = np.clip(noisy, 0, 1)
            label = np.zeros((size, size), np.uint8)
            label[rv < 0] = RV
            label[heart < 0] = MYO
            label[lv < 0] = LV
            labels[f, :, :, k] = label
    if depth is None:
        images, labels = images[..., 0], labels[..., 0]
    return CineSubject(f"cine{index:03d}", images, labels)
