"""Procedural multi-contrast head phantom: the embedded dataset, made from a seed, no files.

A head is described in a template space (mm, RAS, origin at the brain centre) by approximate
signed distances (negative inside) of nested structures: skin, scalp fat, galea, skull with
fatty diploe, CSF, a cortex folded by sulci, white matter, deep grey nuclei, the ventricles
and, in most subjects, a lesion with surrounding edema. Each subject maps its voxel centres
into that space through its own random per-axis scale and smooth displacement, then renders
spin-echo / inversion-recovery signals from per-tissue 1.5 T relaxation times, with texture,
a multiplicative bias field and Rician noise.

Partial volume comes from the signed distances instead of supersampling: under a Gaussian
point-spread function of width sigma a locally planar boundary at distance d fills a voxel to
``0.5 * erfc(d / (sigma * sqrt(2)))``; one pass keeps thin sulci continuous at 3.5 mm voxels.

Randomness: each component (anatomy, lesion, texture, and bias and noise per contrast) draws
from its own stream ``default_rng([seed, index, component])``, and every smooth field lives on
a control grid fixed in millimetres. A subject therefore depends only on (seed, index,
parameters), and the same (seed, index) gives the same anatomy at any ``shape``.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import BSpline
from scipy.ndimage import map_coordinates
from scipy.special import erfc

# Tissue classes of ``PhantomSubject.tissue``.
BACKGROUND, SCALP_SKULL, CSF, GREY_MATTER, WHITE_MATTER, LESION = range(6)
TISSUE_NAMES = ("background", "scalp_skull", "csf", "grey_matter", "white_matter", "lesion")

# (T1 ms, T2 ms, PD) at 1.5 T: typical literature values, rounded. White and grey matter T1
# sit at the short end of the reported ranges so that a TR 500 spin echo shows the usual
# WM > GM contrast; cortical bone has a nominal PD and an ultrashort T2, so it is dark at any
# clinical echo time, and the diploe is fatty marrow.
RELAXATION = {
    "csf": (4000.0, 2000.0, 1.00),
    "grey": (1000.0, 100.0, 0.80),
    "deep_grey": (850.0, 85.0, 0.76),
    "white": (600.0, 80.0, 0.69),
    "fat": (260.0, 80.0, 0.95),
    "muscle": (870.0, 47.0, 0.75),
    "bone": (1000.0, 0.5, 0.05),
    "marrow": (370.0, 70.0, 0.85),
    "lesion": (1500.0, 180.0, 0.88),
    "necrosis": (2500.0, 400.0, 0.95),
    "edema": (1100.0, 130.0, 0.86),
}

# TR, TE (ms) and, for inversion recovery, TI (None: chosen to null CSF).
SEQUENCES = {
    "t1": {"tr": 500.0, "te": 15.0},
    "t2": {"tr": 4000.0, "te": 100.0},
    "pd": {"tr": 3000.0, "te": 15.0},
    "flair": {"tr": 9000.0, "te": 120.0, "ti": None},
}

# Relative within-tissue texture amplitude per rendered class.
_TEXTURE = {"csf": 0.01, "grey": 0.03, "deep_grey": 0.03, "white": 0.025, "fat": 0.06,
            "muscle": 0.06, "bone": 0.0, "marrow": 0.12, "lesion": 0.08, "necrosis": 0.05,
            "edema": 0.04}

_EXTENT = 320.0  # mm: control grids cover this cube, so FOVs up to 320 mm are supported
_BRAIN = (64.0, 82.0, 62.0)  # brain semi-axes (x, y, z) in mm before the subject's scale
_BRAIN_Z = -8.0  # brain centre height in world mm: mid-axial slices cut the ventricles
_SPHERE_R = 70.0  # sulci are drawn on a sphere of this radius and run radially inwards
_SPHERE_STEP = 2.0  # mm, grid of the sulcal field
_SULCAL_BEND = 0.7  # how far sulci drift from radial with depth (0: straight spokes)
_ANATOMY, _LESION, _TEXTURE_STREAM, _NOISE = 0, 1, 2, 3  # random stream ids

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


@dataclass
class PhantomSubject:
    """One phantom head.

    Array axes are (X, Y, Z) = (left->right, posterior->anterior, inferior->superior), RAS.

    Args:
        name: subject name, ``phantom_<index:03d>``.
        images: contrast name -> float32 image, in units of the brightest tissue's signal.
        tissue: uint8 classes (``TISSUE_NAMES``): 0 background, 1 scalp/skull, 2 CSF,
            3 grey matter, 4 white matter, 5 lesion. Edema keeps the class of the tissue
            it lies in.
        lesion: uint8 0/1, equal to ``tissue == 5``; the edema around it is not lesion.
        mask: uint8 head foreground (``tissue > 0``).
        affine: 4x4 voxel -> RAS mm, diagonal spacing ``fov / shape``, centred on 0.
        has_lesion: whether this subject was drawn with a lesion. On very coarse grids
            (about 7 mm voxels) a small lesion can miss every voxel centre, so a label
            should be read from ``lesion``.
    """

    name: str
    images: dict[str, np.ndarray]
    tissue: np.ndarray
    lesion: np.ndarray
    mask: np.ndarray
    affine: np.ndarray
    has_lesion: bool


def subject_names(n: int) -> list[str]:
    """Names of the first ``n`` phantom subjects.

    Args:
        n: number of subjects.

    Returns:
        ``["phantom_000", "phantom_001", ...]``.
    """
    return [f"phantom_{index:03d}" for index in range(n)]


def sequence_signal(contrast: str, t1, t2, pd):
    """Signal of a tissue (T1, T2 in ms, PD) for one of ``SEQUENCES``.

    Spin echo: ``PD (1 - exp(-TR/T1)) exp(-TE/T2)``; inversion recovery (magnitude):
    ``PD |1 - 2 exp(-TI/T1) + exp(-TR/T1)| exp(-TE/T2)``, TI nulling CSF when not given.

    Args:
        contrast: a key of ``SEQUENCES``.
        t1: longitudinal relaxation time (ms), scalar or array.
        t2: transverse relaxation time (ms).
        pd: proton density (relative).

    Returns:
        The signal, relative to a fully relaxed PD = 1 tissue.
    """
    seq = SEQUENCES[contrast]
    tr, te = seq["tr"], seq["te"]
    recovery = 1.0 - np.exp(-tr / np.asarray(t1))
    if "ti" in seq:
        ti = seq["ti"]
        if ti is None:
            t1_csf = RELAXATION["csf"][0]
            ti = t1_csf * np.log(2.0 / (1.0 + np.exp(-tr / t1_csf)))
        recovery = np.abs(1.0 - 2.0 * np.exp(-ti / np.asarray(t1)) + np.exp(-tr / np.asarray(t1)))
    return pd * recovery * np.exp(-te / np.asarray(t2))


def make_subject(
    index: int,
    seed: int,
    shape: Sequence[int] = (64, 64, 32),
    fov_mm: Sequence[float] = (224.0, 224.0, 144.0),
    contrasts: Sequence[str] = ("t1", "t2"),
    lesion_probability: float = 0.8,
    noise: float = 0.02,
    bias: float = 0.15,
) -> PhantomSubject:
    """Render one phantom subject.

    Args:
        index: subject index (>= 0); with ``seed`` it fixes everything random.
        seed: dataset seed (>= 0).
        shape: voxels along (X, Y, Z).
        fov_mm: field of view along (X, Y, Z) in mm, at most 320 each.
        contrasts: names from ``SEQUENCES`` ("t1", "t2", "pd", "flair").
        lesion_probability: chance that this subject has a lesion.
        noise: Rician noise sigma as a fraction of the brightest tissue signal.
        bias: amplitude of the smooth multiplicative bias field (0.15: 0.85 to 1.15).

    Returns:
        The :class:`PhantomSubject`.
    """
    shape = tuple(int(n) for n in shape)
    fov = np.asarray(fov_mm, dtype=float)
    unknown = [c for c in contrasts if c not in SEQUENCES]
    if len(shape) != 3 or min(shape) < 1 or fov.shape != (3,) or not np.all(fov > 0):
        raise ValueError(f"need a 3D shape and positive 3D fov_mm, got {shape}, {fov_mm}")
    if np.any(fov > _EXTENT) or unknown:
        raise ValueError(f"fov_mm must be <= {_EXTENT} mm and contrasts in {list(SEQUENCES)}")
    spacing = fov / np.asarray(shape)
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = -(np.asarray(shape) - 1) / 2 * spacing
    axes = [((np.arange(n) - (n - 1) / 2) * s).astype(np.float32) for n, s in zip(shape, spacing)]
    # Gaussian partial-volume PSF of about half a voxel.
    sigma = 0.5 * float(np.prod(spacing)) ** (1 / 3)

    anatomy = _draw_anatomy(np.random.default_rng([seed, index, _ANATOMY]), axes)
    lesion_rng = np.random.default_rng([seed, index, _LESION])
    # Draw presence first and the lesion itself always, so the probability only toggles it.
    has_lesion = bool(lesion_rng.random() < lesion_probability)
    lesion = _draw_lesion(lesion_rng, anatomy["ventricle_scale"])
    texture = _smooth_fields(np.random.default_rng([seed, index, _TEXTURE_STREAM]), 2, axes, 5.0)

    # Only voxels in or near the head are rendered; the rest is background (noise only).
    keep, layers = _geometry(anatomy, lesion if has_lesion else None, 4.0 * sigma)
    texture = texture.reshape(2, -1)[:, keep]
    classes = list(RELAXATION)
    values = np.array([[sequence_signal(c, *RELAXATION[k]) for k in classes] for c in contrasts])
    values = (values / values.max(axis=1, keepdims=True)).astype(np.float32)
    canvas = np.zeros((len(contrasts), keep.size), np.float32)
    tissue_kept = np.zeros(keep.size, np.uint8)
    scale = np.float32(1.0 / (sigma * np.sqrt(2.0)))
    for cls, label, dist, idx in layers:
        alpha = (0.5 * erfc(dist * scale)).astype(np.float32)
        sub = slice(None) if idx is None else idx
        tex = 1.0 + np.float32(_TEXTURE[cls]) * texture[1 if cls == "lesion" else 0, sub]
        target = values[:, classes.index(cls), None] * tex
        part = canvas[:, sub]
        part += alpha * (target - part)
        canvas[:, sub] = part
        if label is not None:
            inside = dist <= 0
            tissue_kept[inside if idx is None else idx[inside]] = label

    images = {}
    for k, name in enumerate(contrasts):
        rng = np.random.default_rng([seed, index, _NOISE, zlib.crc32(name.encode())])
        signal = np.zeros(int(np.prod(shape)), np.float32)
        signal[keep] = canvas[k]
        field = _smooth_fields(rng, 1, axes, 70.0)[0]
        field /= max(float(np.abs(field).max()), 1e-6)  # so that ``bias`` is the amplitude
        signal = signal.reshape(shape) * (1.0 + np.float32(bias) * field)
        # Rician magnitude: complex Gaussian noise on the real signal; the brightest tissue
        # signal is 1, so sigma is ``noise``.
        real = signal + rng.normal(0.0, noise, shape).astype(np.float32)
        imag = rng.normal(0.0, noise, shape).astype(np.float32)
        images[name] = np.sqrt(real * real + imag * imag).astype(np.float32)

    tissue = np.zeros(int(np.prod(shape)), np.uint8)
    tissue[keep] = tissue_kept
    tissue = tissue.reshape(shape)
    return PhantomSubject(
        name=f"phantom_{index:03d}",
        images=images,
        tissue=tissue,
        lesion=(tissue == LESION).astype(np.uint8),
        mask=(tissue > 0).astype(np.uint8),
        affine=affine,
        has_lesion=has_lesion,
    )


def _smooth_fields(rng: np.random.Generator, count: int, axes: Sequence[np.ndarray],
                   step: float) -> np.ndarray:
    """``count`` smooth Gaussian fields (std about 1) sampled on the grid ``axes`` (mm).

    Random cubic B-spline coefficients on a control grid of spacing ``step`` fixed over
    the ``_EXTENT`` cube, so a field's value at a point does not depend on the sampling grid.
    The tensor-product spline is applied one axis at a time with sparse design matrices
    (4 weights per sample), far cheaper than ``ndimage.zoom`` on large grids.
    """
    n = int(np.ceil(_EXTENT / step)) + 4
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


def _draw_anatomy(rng: np.random.Generator, axes: Sequence[np.ndarray]) -> dict:
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
    shift = _smooth_fields(rng, 3, axes, 50.0)
    # Template coordinates: undo the per-axis scale, add a smooth ~2 mm displacement.
    q = np.empty((3, *shape), np.float32)
    for i, ax in enumerate(axes):
        view = [None, None, None]
        view[i] = slice(None)
        q[i] = ax[tuple(view)] / np.float32(a["scale"][i]) + np.float32(2.0) * shift[i]
    q[2] -= np.float32(_BRAIN_Z)
    a["q"] = q.reshape(3, -1)
    # Layer thickness (skull, scalp, CSF) and cortical thickness vary smoothly.
    a["thick"] = _smooth_fields(rng, 1, axes, 30.0)[0].ravel()
    a["cortex_var"] = _smooth_fields(rng, 1, axes, 12.0)[0].ravel()
    g = np.arange(-_SPHERE_R - 6, _SPHERE_R + 6 + 1e-3, _SPHERE_STEP)
    a["sulci"] = _smooth_fields(rng, 1, [g, g, g], 6.5)[0]
    a["sulcal_depth"] = _smooth_fields(rng, 1, [g, g, g], 20.0)[0]
    a["midline"] = _smooth_fields(rng, 1, axes, 40.0)[0].ravel()
    return a


def _draw_lesion(rng: np.random.Generator, ventricle_scale: float) -> dict:
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


def _geometry(a: dict, lesion: dict | None, margin: float) -> tuple[np.ndarray, Iterator[Layer]]:
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
    """Yield the layers of :func:`_geometry` for the kept voxels (``a["q"]`` is subset)."""
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


# The phantom as a dataset adapter (see radsynth.data.base): the ``phantom`` rule writes each
# subject's NIfTI files under ``dataset["root"]``, which are then read like any NIfTI dataset.
def _patterns(dataset: dict) -> dict[str, str]:
    return {**{channel: f"{channel}.nii.gz" for channel in dataset["channels"]}, "label": "label.nii.gz", "mask": "mask.nii.gz"}


def discover(dataset: dict):
    """The ``dataset["subjects"]`` phantom subjects and the files the phantom rule writes."""
    from radsynth.data.base import SubjectSource

    root = dataset["root"]
    return [
        SubjectSource(name, name, tuple(f"{root}/{name}/{file}" for file in _patterns(dataset).values()))
        for name in subject_names(dataset["subjects"])
    ]


def load(source, dataset: dict):
    """Read a written phantom subject (channels, lesion label and head mask)."""
    from radsynth.data import nifti

    return nifti.load(source, {**dataset, "naming": "custom", "patterns": _patterns(dataset)})
