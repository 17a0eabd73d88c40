import numpy as np
import pytest

from radsynth.io import write_nifti
from radsynth.pack import pack_pairs, pack_slices
from radsynth.split import split_subjects, subjects_in

AFFINE = np.diag([1.5, 1.5, 4.0, 1.0])


def _subject(folder, name, value):
    shape = (6, 5, 4)
    mask = np.zeros(shape, np.uint8)
    mask[:, :, 1:3] = 1  # slices 1 and 2 hold foreground
    image = np.full(shape, value, np.float32)
    image[2, 3, :] = value + 0.5  # marks array position (x=2, y=3)
    label = np.zeros(shape, np.uint8)
    label[1, 1, 2] = 1
    write_nifti(folder / name / "t1.nii.gz", image, AFFINE)
    write_nifti(folder / name / "t2.nii.gz", -image, AFFINE)
    write_nifti(folder / name / "label.nii.gz", label, AFFINE)
    write_nifti(folder / name / "mask.nii.gz", mask, AFFINE)
    write_nifti(folder / f"{name}_sdf.nii.gz", np.zeros((*shape, 1), np.float32) + value, AFFINE)
    return folder / name, folder / f"{name}_sdf.nii.gz"


def test_pack_slices_layout(tmp_path):
    a = _subject(tmp_path, "a", 0.1)
    b = _subject(tmp_path, "b", 0.2)
    arrays = pack_slices([a[0], b[0]], [a[1], b[1]], ["t1", "t2"], min_foreground=0.5)
    assert arrays["image"].shape == (4, 2, 6, 5)
    assert arrays["sdf"].shape == (4, 1, 6, 5)
    assert arrays["label"].shape == arrays["mask"].shape == (4, 6, 5)
    assert arrays["subject"].tolist() == ["a", "a", "b", "b"]
    assert arrays["slice"].tolist() == [1, 2, 1, 2]
    assert arrays["channels"].tolist() == ["t1", "t2"]
    np.testing.assert_allclose(arrays["spacing"], [1.5, 1.5, 4.0])
    # H, W are the first two array axes of the volume
    assert arrays["image"][0, 0, 2, 3] == pytest.approx(0.6)
    assert arrays["image"][2, 1, 2, 3] == pytest.approx(-0.7)
    assert arrays["label"][1, 1, 1] == 1 and arrays["label"].sum() == 2


def test_pack_pairs_layout(tmp_path):
    folder = tmp_path / "misaligned" / "s1" / "level3"
    shape = (6, 5, 4)
    mask = np.zeros(shape, np.uint8)
    mask[:, :, 2] = 1
    field = np.zeros((*shape, 2), np.float32)
    field[..., 0] = 1.0
    field[..., 1] = -2.0
    for name, array in {"source": np.zeros(shape), "target": np.ones(shape), "mask": mask, "field": field}.items():
        write_nifti(folder / f"{name}.nii.gz", array.astype(np.float32 if name != "mask" else np.uint8), AFFINE)
    arrays = pack_pairs([folder], min_foreground=0.5)
    assert arrays["source"].shape == arrays["target"].shape == (1, 1, 6, 5)
    assert arrays["field"].shape == (1, 2, 6, 5)
    assert arrays["field"][0, 0].mean() == 1.0 and arrays["field"][0, 1].mean() == -2.0
    assert arrays["subject"].tolist() == ["s1"] and arrays["slice"].tolist() == [2]


def test_pack_pairs_keeps_whole_volumes_in_3d(tmp_path):
    shape = (6, 5, 4)
    folders = []
    for subject, size in (("s1", shape), ("s2", shape), ("s3", (6, 5, 3))):
        folder = tmp_path / "misaligned" / subject / "level3"
        field = np.zeros((*size, 3), np.float32)
        field[..., 2] = 0.5
        arrays = {"source": np.zeros(size), "target": np.ones(size), "mask": np.ones(size, np.uint8), "field": field}
        for name, array in arrays.items():
            write_nifti(folder / f"{name}.nii.gz", array.astype(np.float32 if name != "mask" else np.uint8), AFFINE)
        folders.append(folder)
    arrays = pack_pairs(folders[:2], min_foreground=0.5, spatial_dims=3)
    assert arrays["source"].shape == arrays["target"].shape == (2, 1, *shape)
    assert arrays["field"].shape == (2, 3, *shape) and arrays["field"][:, 2].min() == 0.5
    assert arrays["mask"].shape == (2, *shape) and arrays["subject"].tolist() == ["s1", "s2"]
    assert "slice" not in arrays
    with pytest.raises(ValueError, match="s3.*one shape"):
        pack_pairs(folders, min_foreground=0.5, spatial_dims=3)


def test_select_channels_orders_and_checks():
    from radsynth.pack import select_channels

    packed = {"image": np.arange(2 * 3).reshape(2, 3, 1, 1), "channels": np.array(["t1", "t2", "flair"])}
    assert select_channels(packed, ["flair", "t1"])[0, :, 0, 0].tolist() == [2, 0]
    with pytest.raises(ValueError, match="pd"):
        select_channels(packed, ["pd"])


def test_pack_volumes_keeps_whole_volumes_and_refuses_mixed_shapes(tmp_path):
    from radsynth.pack import pack_volumes

    a = _subject(tmp_path, "a", 0.1)
    b = _subject(tmp_path, "b", 0.2)
    arrays = pack_volumes([a[0], b[0]], [a[1], b[1]], ["t2", "t1"])
    assert arrays["image"].shape == (2, 2, 6, 5, 4) and arrays["label"].shape == (2, 6, 5, 4)
    assert arrays["sdf"].shape == (2, 1, 6, 5, 4) and arrays["mask"].shape == (2, 6, 5, 4)
    assert arrays["image"][1, 1, 2, 3, 0] == pytest.approx(0.7)  # subject b, t1, (x=2, y=3)
    assert arrays["image"][0, 0, 0, 0, 0] == pytest.approx(-0.1)  # subject a, t2
    assert list(arrays["subject"]) == ["a", "b"] and np.allclose(arrays["spacing"], [1.5, 1.5, 4.0])
    write_nifti(tmp_path / "b" / "label.nii.gz", np.zeros((6, 5, 3), np.uint8), AFFINE)
    with pytest.raises(ValueError, match="three values"):
        pack_volumes([a[0], b[0]], [a[1], b[1]], ["t1"])


def test_packed_pairs_hold_only_their_splits_subjects(tmp_path):
    """As the pack_pairs rule does: the pair folders of one split's subjects (subjects_in of
    splits.tsv) packed into one file per split; every row's subject, and its data, is that
    split's."""
    subjects = [f"s{i}" for i in range(6)]
    splits = split_subjects(subjects, {"train": 0.5, "val": 0.0, "test": 0.5}, seed=0)
    shape = (6, 5, 4)
    mask = np.zeros(shape, np.uint8)
    mask[:, :, 1:3] = 1  # slices 1 and 2 of every subject are kept
    for index, subject in enumerate(subjects):
        folder = tmp_path / "misaligned" / subject / "level2"
        marker = np.full(shape, index / 10, np.float32)  # each subject's own values
        arrays = {"source": marker, "target": -marker, "mask": mask, "field": np.zeros((*shape, 2), np.float32)}
        for name, array in arrays.items():
            write_nifti(folder / f"{name}.nii.gz", array, AFFINE)
    for split in ("train", "test"):
        members = subjects_in(splits, split)
        assert 0 < len(members) < len(subjects)
        arrays = pack_pairs([tmp_path / "misaligned" / s / "level2" for s in members], min_foreground=0.5)
        assert arrays["subject"].tolist() == [s for s in members for _ in (1, 2)]
        assert arrays["slice"].tolist() == [1, 2] * len(members)
        owner = np.array([subjects.index(s) / 10 for s in arrays["subject"]])
        np.testing.assert_allclose(arrays["source"][:, 0, 0, 0], owner, atol=1e-6)
        np.testing.assert_allclose(arrays["target"][:, 0, 0, 0], -owner, atol=1e-6)
    assert set(subjects_in(splits, "train")).isdisjoint(subjects_in(splits, "test"))


def test_pack_slices_of_subjects_without_label(tmp_path):
    folders = [_subject(tmp_path, name, value)[0] for name, value in (("a", 0.1), ("b", 0.2))]
    for folder in folders:
        (folder / "label.nii.gz").unlink()  # a dataset read with labels: false has none
    arrays = pack_slices(folders, None, ["t2"], min_foreground=0.5)
    assert sorted(arrays) == ["channels", "image", "mask", "slice", "spacing", "subject"]
    assert arrays["image"].shape == (4, 1, 6, 5) and arrays["image"][2, 0, 2, 3] == pytest.approx(-0.7)
    assert arrays["subject"].tolist() == ["a", "a", "b", "b"] and arrays["mask"].shape == (4, 6, 5)
