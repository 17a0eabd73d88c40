"""The phantom's anatomy: a head in a template space (mm, RAS, origin at the brain centre)
described by approximate signed distances (negative inside) of nested structures: skin, scalp
fat, galea, skull with fatty diploe, CSF, a cortex folded by sulci, white matter, deep grey
nuclei, the ventricles and a lesion with surrounding edema. :mod:`radsynth.data.phantom`
draws a subject's anatomy here and renders its contrasts from the layers.

Every smooth field lives on a control grid fixed in millimetres, so the same random draw
gives the same anatomy at any image shape.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from scipy.interpolate import BSpline
from scipy.ndimage import map_coordinates

# Tissue classes of ``PhantomSubject.tissue``.
BACKGROUND, SCALP_SKULL, CSF, GREY_MATTER, WHITE_MATTER, LESION = range(6)
TISSUE_NAMES = ("background", "scalp_skull", "csf", "grey_matter", "white_matter", "lesion")


EXTENT = 320.0  # mm: control grids cover this cube, so FOVs up to 320 mm are supported
_BRAIN = (64.0, 82.0, 62.0)  # brain semi-axes (x, y, z) in mm before the subject's scale
_BRAIN_Z = -8.0  # brain centre height in world mm: mid-axial slices cut the ventricles
_SPHERE_R = 70.0  # sulci are drawn on a sphere of this radius and run radially inwards
_SPHERE_STEP = 2.0  # mm, grid of the sulcal field
_SULCAL_BEND = 0.7  # how far sulci drift from radial with depth (0: straight spokes)

# Right lateral ventricle (mirrored for the left) as a tube through these centres with these
# radii, template mm: frontal horn, body, atrium, occipital horn; the temporal horn branches
# off the atrium.
_VENTRICLE = np.array([
    [5.0, 38.0, 2.0, 3.0], [8.0, 28.0, 6.0, 5.0], [9.0, 10.0, 9.0, 4.0],
    [13.0, -8.0, 8.0, 4.5], [20.0, -20.0, 4.0, 6.5], [17.0, -38.0, 0.0, 3.0],
    [14.0, -46.0, -1.0, 1.5]])
_TEMPORAL_HORN = np.array([[21.0, -20.0, 2.0, 5.0], [28.0, -10.0, -14.0, 3.0],
                           [30.0, 5.0, -26.0, 2.0]])
_VENTRICLE_HEIGHT = 1.9  # cross-sections are taller than wide
# Right deep grey nuclei as ellipsoids (centre, semi-axes): caudate head and body,
# lentiform nucleus, thalamus.
_NUCLEI = [((14.0, 26.0, 2.0), (5.0, 9.0, 9.0)), ((14.0, 6.0, 13.0), (3.5, 12.0, 4.0)),
           ((25.0, 12.0, -8.0), (6.0, 14.0, 9.0)), ((10.0, -5.0, -4.0), (7.0, 12.0, 9.0))]
# Corpus callosum arch (y, z centre; y, z semi-axes): no interhemispheric fissure inside it.
_CALLOSUM = (9.0, -3.0, 36.0, 25.0)


def smooth_fields(rng: np.random.Generator, count: int, axes: Sequence[np.ndarray],
                  step: float) -> np.ndarray:
    """``count`` smooth Gaussian fields (std about 1) sampled on the grid ``axes`` (mm).

    Random cubic B-spline coefficients on a control grid of spacing ``step`` fixed over
    the ``EXTENT`` cube, so a field's value at a point does not depend on the sampling grid.
    The tensor-product spline is applied one axis at a time with sparse design matrices
    (4 weights per sample), far cheaper than ``ndimage.zoom`` on large grids.
    """
    n = int(np.ceil(EXTENT / step)) + 4
    # 3.0: the variance of a cubic B-spline with unit coefficients is about 0.11 in 3D.
    out = rng.standard_normal((count, n, n, n)).astype(np.float32) * np.float32(3.0)
    knots = (np.arange(n + 4) - (n + 3) / 2) * step
    for axis, coords in enumerate(axes):
        coords = np.clip(coords, knots[3], knots[n] - 1e-6)
        basis = BSpline.design_matrix(coords, knots, 3).astype(np.float32)
        moved = np.moveaxis(out, axis + 1, 0)
        flat = basis @ moved.reshape(n, -1)
        out = np.moveaxis(flat.reshape(len(coords), *moved.shape[1:]), 0, axis + 1)
    return np.ascontiguousarray(out, dtype=np.float32)


def draw_anatomy(rng: np.random.Generator, axes: Sequence[np.ndarray]) -> dict:
    """Per-subject shape parameters and the voxel centres mapped into template space."""
    a = {
        "scale": rng.uniform(0.92, 1.08, 3),
        "csf": rng.uniform(1.2, 2.8),  # subarachnoid space, mm (wider: atrophy)
        "skull": rng.uniform(5.0, 8.0),
        "scalp": rng.uniform(5.0, 8.0),
        "cortex": rng.uniform(2.4, 3.0),
        "sulcus": rng.uniform(0.5, 1.0),  # sulcal half-width, mm
        "fissure": rng.uniform(1.0, 2.0),
        "depth": rng.uniform(11.0, 16.0),  # mean sulcal depth, mm
        "ventricle_scale": rng.uniform(0.9, 1.5),
    }
    a = {k: v if k == "scale" else float(v) for k, v in a.items()}  # keep arrays float32
    shape = tuple(len(ax) for ax in axes)
    shift = smooth_fields(rng, 3, axes, 50.0)
    # Template coordinates: undo the per-axis scale, add a smooth ~2 mm displacement.
    q = np.empty((3, *shape), np.float32)
    for i, ax in enumerate(axes):
        view = [None, None, None]
        view[i] = slice(None)
        q[i] = ax[tuple(view)] / np.float32(a["scale"][i]) + np.float32(2.0) * shift[i]
    q[2] -= np.float32(_BRAIN_Z)
    a["q"] = q.reshape(3, -1)
    # Layer thickness (skull, scalp, CSF) and cortical thickness vary smoothly.
    a["thick"] = smooth_fields(rng, 1, axes, 30.0)[0].ravel()
    a["cortex_var"] = smooth_fields(rng, 1, axes, 12.0)[0].ravel()
    g = np.arange(-_SPHERE_R - 6, _SPHERE_R + 6 + 1e-3, _SPHERE_STEP)
    a["sulci"] = smooth_fields(rng, 1, [g, g, g], 6.5)[0]
    a["sulcal_depth"] = smooth_fields(rng, 1, [g, g, g], 20.0)[0]
    a["midline"] = smooth_fields(rng, 1, axes, 40.0)[0].ravel()
    return a


def draw_lesion(rng: np.random.Generator, ventricle_scale: float) -> dict:
    """Lesion centre, radius and irregular boundary, in template space."""
    radius = rng.uniform(7.0, 18.0)  # glioma-like sizes: enough lesion slices to learn from
    for _ in range(200):  # rejection: inside the brain, clear of the surface and ventricles
        # Supratentorial only: the phantom has no infratentorial anatomy (cerebellum).
        centre = rng.uniform((-1.0, -1.0, -0.55), 1.0) * np.asarray(_BRAIN)
        point = centre[:, None].astype(np.float32)
        depth = -_brain_envelope(point)[0]
        if depth > radius * 0.6 + 4.0 and _ventricles(point, ventricle_scale)[0] > 0.3 * radius:
            break
    waves = rng.normal(size=(6, 3))
    return {
        "centre": centre.astype(np.float32),
        "radius": float(radius),
        # A few random plane waves make the boundary lobulated rather than spherical.
        "waves": waves / np.linalg.norm(waves, axis=1, keepdims=True) * rng.uniform(3, 8, (6, 1)),
        "phases": rng.uniform(0, 2 * np.pi, 6),
        "amplitude": rng.uniform(0.12, 0.3) * rng.dirichlet(np.ones(6)),
        "necrosis": bool(radius > 9.0 and rng.random() < 0.7),
        "edema": float(rng.uniform(1.5, 8.0)),
    }


def _ellipsoid(q, semi: Sequence[float], centre: Sequence[float] = (0.0, 0.0, 0.0)):
    """Approximate signed distance (mm) to an ellipsoid: (rho - 1) / |grad rho|.

    Args:
        q: coordinates, one array per axis (a (D, N) array works).
        semi: semi-axes (D,).
        centre: centre (D,).
    """
    u = [(q[i] - np.float32(centre[i])) / np.float32(semi[i]) for i in range(len(semi))]
    rho = np.sqrt(sum(v * v for v in u)) + np.float32(1e-6)
    grad = np.sqrt(sum((v / np.float32(s)) ** 2 for v, s in zip(u, semi))) + np.float32(1e-9)
    return (rho - 1.0) * rho / grad


def _brain_envelope(q) -> np.ndarray:
    """Signed distance to the brain surface; frontal lobes narrower than parietal ones."""
    taper = 1.0 - 0.08 * np.clip(q[1] / np.float32(_BRAIN[1]), -1.0, 1.0)
    return _ellipsoid((q[0] / taper, q[1], q[2]), _BRAIN)


def _tube(q: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Signed distance to a tube through ``points`` (x, y, z, radius) with linear radii."""
    dist = np.full(q.shape[1], np.inf, np.float32)
    for (*a, ra), (*b, rb) in zip(points[:-1], points[1:]):
        a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
        ab = b - a
        t = np.clip(((q - a[:, None]) * ab[:, None]).sum(0) / (ab @ ab), 0.0, 1.0)
        nearest = a[:, None] + t * ab[:, None]
        seg = np.sqrt(((q - nearest) ** 2).sum(0)) - (ra + t * (rb - ra))
        np.minimum(dist, seg, out=dist)
    return dist


def _ventricles(q: np.ndarray, scale: float) -> np.ndarray:
    """Signed distance (approximate, mm) to both lateral ventricles and the third ventricle.

    Args:
        q: (3, N) template points.
        scale: ventricle size factor (enlarged ventricles also move apart).
    """
    squash = np.array([[1.0], [1.0], [1.0 / _VENTRICLE_HEIGHT]], np.float32)
    dist = np.full(q.shape[1], np.inf, np.float32)
    for mirror in (1.0, -1.0):
        pts = q * squash * np.array([[mirror], [1.0], [1.0]], np.float32)
        for path in (_VENTRICLE, _TEMPORAL_HORN):
            grown = path.copy()
            grown[:, 0] += 0.8 * (scale - 1.0) * grown[:, 3]
            grown[:, 2] /= _VENTRICLE_HEIGHT
            grown[:, 3] *= scale
            np.minimum(dist, _tube(pts, grown), out=dist)
    # Third ventricle: a thin midline slit between the thalami.
    third = np.maximum(np.abs(q[0]) - 1.5 * scale, _ellipsoid(q[1:], (13.0, 10.0), (-5.0, -8.0)))
    return np.minimum(dist, third)


def _in_box(q: np.ndarray, lo: Sequence[float], hi: Sequence[float]) -> np.ndarray:
    """Indices of template points inside a box, to evaluate small structures cheaply."""
    inside = np.ones(q.shape[1], bool)
    for i in range(3):
        inside &= (q[i] > lo[i]) & (q[i] < hi[i])
    return np.flatnonzero(inside)


# (rendered class, tissue label or None, signed distance, voxel indices or None for all)
Layer = tuple[str, int | None, np.ndarray, np.ndarray | None]


def head_layers(a: dict, lesion: dict | None, margin: float) -> tuple[np.ndarray, Iterator[Layer]]:
    """Voxels to render (within ``margin`` mm of the head) and their layers in painting order.

    Returns:
        ``keep`` (flat voxel indices) and an iterator of (rendered class, tissue label or
        None, signed distance, indices into ``keep`` or None for all of them).
    """
    brain = _brain_envelope(a["q"])
    csf = np.maximum(a["csf"] + 0.4 * a["thick"], 0.6)
    skull = csf + a["skull"] + 0.8 * a["thick"]
    scalp = skull + a["scalp"] + 0.8 * a["thick"]
    keep = np.flatnonzero(brain - scalp < margin)
    sub = {k: a[k][..., keep] for k in ("q", "thick", "cortex_var", "midline")}
    return keep, _layers({**a, **sub}, lesion, brain[keep], csf[keep], skull[keep], scalp[keep])


def _layers(a: dict, lesion: dict | None, brain: np.ndarray, csf: np.ndarray,
            skull: np.ndarray, scalp: np.ndarray) -> Iterator[Layer]:
    """Yield the layers of :func:`head_layers` for the kept voxels (``a["q"]`` is subset)."""
    q = a["q"]
    x, y, z = q
    n = q.shape[1]
    far = np.float32(1e3)
    yield "muscle", SCALP_SKULL, brain - scalp, None  # skin
    yield "fat", SCALP_SKULL, brain - (scalp - 1.5), None
    yield "muscle", SCALP_SKULL, brain - (skull + 1.5), None  # galea and temporal muscle
    yield "bone", SCALP_SKULL, brain - skull, None
    # Fatty diploe between the inner and outer tables (each about 1.5 mm).
    yield "marrow", SCALP_SKULL, np.maximum(brain - (skull - 1.5), (csf + 1.5) - brain), None
    yield "csf", CSF, brain - csf, None

    # Sulci: zero crossings of a smooth 3D field sampled at radius R0 - BEND * depth along
    # each ray. BEND = 0 would give purely radial sheets ("spokes"); a partial shift lets
    # them bend, branch and end with depth like real sulci. Distance to the zero set is
    # |G| / |grad G| (first order, chain rule below), plus the depth below the fundus.
    sulcus = np.full(n, far, np.float32)
    shell = np.flatnonzero((brain < 1.0) & (brain > -(a["depth"] + 24.0)))
    if shell.size:
        qs = q[:, shell]
        radius = np.sqrt((qs ** 2).sum(0)) + np.float32(1e-3)
        u = qs / radius
        below_surface = np.maximum(-brain[shell], 0.0)
        ray = _SPHERE_R - _SULCAL_BEND * below_surface
        to_grid = (_SPHERE_R + 6.0) / _SPHERE_STEP
        coords = ray * u / _SPHERE_STEP + to_grid
        field = map_coordinates(a["sulci"], coords, order=1)
        grads = np.gradient(a["sulci"], _SPHERE_STEP)
        grad = np.stack([map_coordinates(g, coords, order=1) for g in grads])
        radial = (grad * u).sum(0)
        tangential = ((grad ** 2).sum(0) - radial ** 2) * (ray / radius) ** 2
        norm = np.sqrt(np.maximum(tangential, 0.0) + (_SULCAL_BEND * radial) ** 2) + 1e-3
        along = np.abs(field) / norm
        depth = a["depth"] + 6.0 * map_coordinates(
            a["sulcal_depth"], _SPHERE_R * u / _SPHERE_STEP + to_grid, order=1)
        below = np.maximum(below_surface - depth, 0.0)
        # Sulci open up towards the surface.
        width = a["sulcus"] + 0.8 * np.exp(-below_surface / 2.0)
        sulcus[shell] = np.sqrt(along ** 2 + below ** 2) - width
    # Interhemispheric fissure, everywhere except through the corpus callosum arch.
    cy, cz, sy, sz = _CALLOSUM
    arch = (np.sqrt(((y - cy) / sy) ** 2 + ((z - cz) / sz) ** 2) - 1.0) * min(sy, sz)
    fissure = np.maximum(np.abs(x - 1.5 * a["midline"]) - a["fissure"], -arch)
    parenchyma = np.maximum(brain, np.maximum(-sulcus, -fissure))
    del sulcus, fissure, arch
    yield "grey", GREY_MATTER, parenchyma, None
    white = parenchyma + a["cortex"] + 0.5 * a["cortex_var"]
    yield "white", WHITE_MATTER, white, None

    # Deep structures, evaluated only in a box around them.
    box = _in_box(q, (-48, -55, -50), (48, 56, 28))
    qb = q[:, box]
    nuclei = np.full(box.size, np.inf, np.float32)
    for centre, semi in _NUCLEI:
        for sign in (1.0, -1.0):
            c = (sign * centre[0], centre[1], centre[2])
            np.minimum(nuclei, _ellipsoid(qb, semi, c), out=nuclei)
    yield "deep_grey", GREY_MATTER, nuclei, box
    ventricles = _ventricles(qb, a["ventricle_scale"])
    yield "csf", CSF, ventricles, box

    if lesion is None:
        return
    offset = q - lesion["centre"][:, None]
    reach = lesion["radius"] * 1.5 + lesion["edema"] + 6.0
    near = np.flatnonzero((offset ** 2).sum(0) < reach ** 2)
    v = offset[:, near] / np.float32(lesion["radius"])
    wobble = (lesion["amplitude"][:, None]
              * np.cos(lesion["waves"] @ v + lesion["phases"][:, None])).sum(0)
    r = np.sqrt((v ** 2).sum(0))
    core = ((r - (1.0 + wobble)) * lesion["radius"]).astype(np.float32)
    # Vasogenic edema spreads through white matter only; it is rendered, not labelled.
    wm_only = white[near]
    if box.size:  # outside the deep box there are no nuclei or ventricles to exclude
        pos = np.searchsorted(box, near).clip(0, box.size - 1)
        deep = np.maximum(-nuclei[pos], -ventricles[pos])
        wm_only = np.where(box[pos] == near, np.maximum(wm_only, deep), wm_only)
    yield "edema", None, np.maximum(core - lesion["edema"], wm_only), near
    yield "lesion", LESION, np.maximum(core, brain[near]), near
    if lesion["necrosis"]:
        necrosis = ((r - 0.5 * (1.0 - wobble)) * lesion["radius"]).astype(np.float32)
        yield "necrosis", LESION, np.maximum(necrosis, brain[near]), near
