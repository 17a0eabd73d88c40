"""Dice, Jaccard, 95HD and ASD on hand-made masks, cross-checked with medpy and MONAI."""

import warnings

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from radsynth.segmentation.metrics import segmentation_metrics


def _ball(shape, centre, radius):
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"))
    return ((grid - np.reshape(centre, (-1, 1, 1, 1))) ** 2).sum(0) <= radius**2


def _blobs(seed, shape=(40, 36, 28)):
    rng = np.random.default_rng(seed)
    return gaussian_filter(rng.normal(size=shape), 3) > 0.05


def test_concentric_spheres_known_distance():
    shape = (48, 48, 48)
    pred = _ball(shape, (24, 24, 24), 10).astype(np.uint8)
    ref = _ball(shape, (24, 24, 24), 14).astype(np.uint8)
    (row,) = segmentation_metrics(pred, ref, (2.0, 2.0, 2.0), [1])
    assert row["class"] == 1
    assert row["dice"] == pytest.approx(2 * pred.sum() / (pred.sum() + ref.sum()))
    assert abs(row["hd95_vox"] - 4) <= 1 and abs(row["asd_vox"] - 4) <= 1
    assert row["hd95"] == pytest.approx(2 * row["hd95_vox"])
    assert row["asd"] == pytest.approx(2 * row["asd_vox"])


def test_shifted_sphere_known_distance():
    shape = (50, 44, 44)
    shift = 4
    pred = _ball(shape, (22 + shift, 22, 22), 13)
    ref = _ball(shape, (22, 22, 22), 13)
    (row,) = segmentation_metrics(pred, ref, None, [True], convention="dtc")
    # The distance from a point of a sphere to the shifted sphere is shift*|cos(theta)|, with
    # |cos(theta)| uniform on a sphere: mean shift/2, 95th percentile 0.95*shift, max shift.
    assert abs(row["asd_vox"] - shift / 2) <= 1
    assert abs(row["hd95_vox"] - 0.95 * shift) <= 1
    assert row["hd95_vox"] <= shift + 1e-9
    assert row["hd95"] == row["hd95_vox"] and row["asd"] == row["asd_vox"]


def test_anisotropic_spacing_parallel_slabs():
    pred = np.zeros((12, 10, 24), np.uint8)
    ref = np.zeros_like(pred)
    pred[..., 10:12] = 1  # two layers: all surface
    ref[..., 14:16] = 1
    spacing = (5.0, 1.0, 2.5)
    for convention in ("dtc", "monai"):
        (row,) = segmentation_metrics(pred, ref, spacing, [1], convention=convention)
        # pred -> ref: layers at distance 4 and 3 voxels straight along axis 2.
        assert row["asd_vox"] == pytest.approx(3.5) and row["asd"] == pytest.approx(3.5 * 2.5)
        assert row["hd95_vox"] == pytest.approx(4) and row["hd95"] == pytest.approx(4 * 2.5)
        assert row["dice"] == 0 and row["jaccard"] == 0


@pytest.mark.parametrize("spacing", [None, (1.0, 1.0, 1.0), (0.8, 1.2, 2.5)])
def test_dtc_convention_matches_medpy(spacing):
    binary = pytest.importorskip("medpy.metric.binary")
    for seed in range(3):
        pred, ref = _blobs(seed), _blobs(seed + 100)
        (row,) = segmentation_metrics(pred.astype(np.uint8), ref.astype(np.uint8), spacing, [1])
        assert row["dice"] == pytest.approx(binary.dc(pred, ref))
        assert row["jaccard"] == pytest.approx(binary.jc(pred, ref))
        assert row["hd95"] == pytest.approx(binary.hd95(pred, ref, voxelspacing=spacing))
        assert row["asd"] == pytest.approx(binary.asd(pred, ref, voxelspacing=spacing))
        assert row["hd95_vox"] == pytest.approx(binary.hd95(pred, ref))
        assert row["asd_vox"] == pytest.approx(binary.asd(pred, ref))


def test_monai_convention_matches_monai():
    torch = pytest.importorskip("torch")
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance

    spacing = (0.8, 1.2, 2.5)
    pred, ref = _blobs(7), _blobs(8)
    (row,) = segmentation_metrics(pred, ref, spacing, [True], convention="monai")
    tensors = [torch.from_numpy(a)[None, None].float() for a in (pred, ref)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hd95 = compute_hausdorff_distance(*tensors, percentile=95, spacing=spacing).item()
        asd = compute_average_surface_distance(*tensors, symmetric=False, spacing=spacing).item()
    assert row["hd95"] == pytest.approx(hd95, rel=1e-5)
    assert row["asd"] == pytest.approx(asd, rel=1e-5)
    # The two conventions differ in 95HD only.
    (dtc,) = segmentation_metrics(pred, ref, spacing, [True], convention="dtc")
    assert dtc["asd"] == row["asd"] and dtc["hd95"] <= row["hd95"]


def test_empty_cases():
    empty = np.zeros((10, 10, 10), np.uint8)
    some = empty.copy()
    some[3:6, 3:6, 3:6] = 1
    (both,) = segmentation_metrics(empty, empty, (1, 1, 1), [1])
    assert both == {
        "class": 1, "dice": 1.0, "jaccard": 1.0, "hd95": 0.0, "asd": 0.0, "hd95_vox": 0.0,
        "asd_vox": 0.0,
    }  # fmt: skip
    for pred, ref in ((empty, some), (some, empty)):
        (one,) = segmentation_metrics(pred, ref, (1, 1, 1), [1])
        assert one["dice"] == 0 and one["jaccard"] == 0
        assert all(np.isnan(one[k]) for k in ("hd95", "asd", "hd95_vox", "asd_vox"))


def test_identical_masks():
    mask = _ball((20, 20, 20), (10, 10, 10), 6).astype(np.uint8)
    (row,) = segmentation_metrics(mask, mask, (1, 1, 3), [1])
    assert row["dice"] == 1 and row["jaccard"] == 1 and row["hd95"] == 0 and row["asd"] == 0


def test_multiclass_and_2d():
    ref = np.zeros((40, 40), np.uint8)
    ref[5:15, 5:15] = 1
    ref[20:35, 20:35] = 2
    pred = ref.copy()
    pred[5:15, 5:15] = 0
    pred[7:17, 5:15] = 1  # class 1 shifted by 2 rows; class 2 exact; class 3 absent in both
    rows = segmentation_metrics(pred, ref, (0.5, 1.0), [1, 2, 3])
    assert [r["class"] for r in rows] == [1, 2, 3]
    assert rows[0]["dice"] == pytest.approx(2 * 80 / 200)
    assert rows[0]["jaccard"] == pytest.approx(80 / 120)
    assert rows[0]["hd95_vox"] == pytest.approx(2) and rows[0]["hd95"] == pytest.approx(1.0)
    assert rows[1]["dice"] == 1 and rows[1]["hd95"] == 0
    assert rows[2]["dice"] == 1 and rows[2]["asd"] == 0


def test_bad_convention():
    with pytest.raises(ValueError, match="convention must be one of .*got 'x'"):
        segmentation_metrics(np.zeros((4, 4)), np.zeros((4, 4)), None, [1], convention="x")
