import json

import nibabel as nib
import numpy as np
import pytest

from radsynth.export import check_nnunet, export_nnunet
from radsynth.io import InputError, write_nifti

CHANNELS = ["t1", "t2"]


def _affine(shift: float) -> np.ndarray:
    affine = np.diag([-1.0, -1.0, 2.5, 1.0])
    affine[:3, 3] = [4.0 + shift, -3.0, 10.0]
    return affine


def _subjects(root, values=(1,), n=4):
    """n preprocessed subject folders, 8x8x4, two channels, labels drawn from ``values``."""
    rng = np.random.default_rng(0)
    dirs = {}
    for i in range(n):
        folder = root / "preprocessed" / f"sub-{i}"
        affine = _affine(i)
        for channel in CHANNELS:
            write_nifti(folder / f"{channel}.nii.gz", rng.uniform(-1, 1, (8, 8, 4)).astype(np.float32), affine)
        label = np.zeros((8, 8, 4), np.uint8)
        for k, value in enumerate(values):
            label[k : k + 2, 2:5, 1 + k % 3] = value
        write_nifti(folder / "label.nii.gz", label, affine)
        write_nifti(folder / "mask.nii.gz", np.ones((8, 8, 4), np.uint8), affine)
        dirs[f"sub-{i}"] = folder
    return dirs


def _synthetic(subjects, channels=("t2", "t1", "flair"), per_subject=2):
    rng = np.random.default_rng(1)
    n = len(subjects) * per_subject
    label = np.zeros((n, 8, 8), np.uint8)
    label[:, 3:6, 3:6] = 1
    return {
        "image": rng.uniform(-1, 1, (n, len(channels), 8, 8)).astype(np.float32),
        "channels": np.array(channels),
        "label": label,
        "subject": np.repeat(np.array(subjects), per_subject),
        "sample": np.tile(np.arange(per_subject, dtype=np.int64), len(subjects)),
        "slice": np.full(n, 2, dtype=np.int64),
    }


def _split(dirs):
    names = sorted(dirs)
    return {k: dirs[k] for k in names[:-1]}, {k: dirs[k] for k in names[-1:]}


def test_export_without_synthetic(tmp_path):
    train, test = _split(_subjects(tmp_path))
    out = tmp_path / "nnunet" / "Dataset501_Phantom"
    dataset = export_nnunet(out, train, test, CHANNELS, [1], description="tiny")
    assert check_nnunet(out) == []
    assert json.loads((out / "dataset.json").read_text()) == dataset
    assert dataset["channel_names"] == {"0": "t1", "1": "t2"}
    assert dataset["labels"] == {"background": 0, "class_1": 1}
    assert dataset["numTraining"] == 3 and dataset["file_ending"] == ".nii.gz"
    assert dataset["name"] == "Phantom" and dataset["description"] == "tiny"
    assert "radsynth_label_values" not in dataset and "radsynth_synthetic_cases" not in dataset
    assert sorted(p.name for p in (out / "imagesTr").iterdir()) == [
        f"sub-{i}_{c:04d}.nii.gz" for i in range(3) for c in range(2)
    ]
    assert sorted(p.name for p in (out / "labelsTr").iterdir()) == [f"sub-{i}.nii.gz" for i in range(3)]
    assert sorted(p.name for p in (out / "imagesTs").iterdir()) == ["sub-3_0000.nii.gz", "sub-3_0001.nii.gz"]
    assert [p.name for p in (out / "labelsTs").iterdir()] == ["sub-3.nii.gz"]
    # Geometry and voxels equal the source.
    for case, folder in train.items():
        for index, channel in enumerate(CHANNELS):
            source, copy = nib.load(folder / f"{channel}.nii.gz"), nib.load(out / "imagesTr" / f"{case}_{index:04d}.nii.gz")
            np.testing.assert_array_equal(copy.affine, source.affine)
            np.testing.assert_array_equal(copy.get_fdata(), source.get_fdata())
    # No temporary folder left beside the dataset.
    assert [p.name for p in out.parent.iterdir()] == ["Dataset501_Phantom"]


def test_brats_labels_are_renumbered(tmp_path):
    train, test = _split(_subjects(tmp_path, values=(1, 2, 4)))
    out = tmp_path / "Dataset502_Brats"
    dataset = export_nnunet(out, train, test, CHANNELS, [4, 1, 2])
    assert check_nnunet(out) == []
    assert dataset["labels"] == {"background": 0, "class_1": 1, "class_2": 2, "class_4": 3}
    assert dataset["radsynth_label_values"] == {"1": 1, "2": 2, "3": 4}
    for split, cases in (("Tr", train), ("Ts", test)):
        for case, folder in cases.items():
            source = nib.load(folder / "label.nii.gz")
            exported = nib.load(out / f"labels{split}" / f"{case}.nii.gz")
            np.testing.assert_array_equal(exported.affine, source.affine)
            assert exported.get_data_dtype() == np.uint8
            original = np.asarray(source.dataobj)
            renumbered = np.asarray(exported.dataobj)
            assert set(np.unique(renumbered)) == {0, 1, 2, 3}
            np.testing.assert_array_equal(renumbered == 3, original == 4)
            np.testing.assert_array_equal(renumbered == 2, original == 2)


def test_export_with_synthetic(tmp_path):
    train, test = _split(_subjects(tmp_path))
    synthetic = _synthetic(["sub-0", "sub-2"])
    out = tmp_path / "Dataset503_Synth"
    dataset = export_nnunet(out, train, test, CHANNELS, [1], synthetic=synthetic)
    assert check_nnunet(out) == []
    cases = ["synth_sub-0_s2_k0", "synth_sub-0_s2_k1", "synth_sub-2_s2_k0", "synth_sub-2_s2_k1"]
    assert dataset["radsynth_synthetic_cases"] == cases
    assert dataset["numTraining"] == 3 + 4
    first = nib.load(out / "imagesTr" / "synth_sub-0_s2_k0_0000.nii.gz")
    assert first.shape == (8, 8, 1)
    # Channels are picked by name: _0000 is t1, the second channel of the synthetic arrays.
    np.testing.assert_allclose(first.get_fdata()[:, :, 0], synthetic["image"][0, 1])
    second = nib.load(out / "imagesTr" / "synth_sub-0_s2_k0_0001.nii.gz")
    np.testing.assert_allclose(second.get_fdata()[:, :, 0], synthetic["image"][0, 0])
    # The source subject's grid, shifted to the source slice.
    source = nib.load(train["sub-2"] / "t1.nii.gz").affine
    exported = nib.load(out / "labelsTr" / "synth_sub-2_s2_k1.nii.gz")
    np.testing.assert_allclose(exported.affine[:3, :3], source[:3, :3])
    np.testing.assert_allclose(exported.affine[:3, 3], source[:3, :3] @ [0, 0, 2] + source[:3, 3])
    np.testing.assert_array_equal(np.asarray(exported.dataobj)[:, :, 0], synthetic["label"][3])


def test_synthetic_must_come_from_training_subjects(tmp_path):
    train, test = _split(_subjects(tmp_path))
    out = tmp_path / "Dataset504_Bad"
    with pytest.raises(ValueError, match=r"sub-3.*training subjects only"):
        export_nnunet(out, train, test, CHANNELS, [1], synthetic=_synthetic(["sub-0", "sub-3"]))
    with pytest.raises(ValueError, match=r"lack channels \['t1'\]"):
        export_nnunet(out, train, test, CHANNELS, [1], synthetic=_synthetic(["sub-0"], channels=("t2",)))
    assert not out.exists()


def test_failure_leaves_nothing(tmp_path):
    dirs = _subjects(tmp_path)
    (dirs["sub-2"] / "t2.nii.gz").unlink()
    train, test = _split(dirs)
    parent = tmp_path / "nnunet"
    with pytest.raises(InputError, match="missing channel t2"):
        export_nnunet(parent / "Dataset505_Broken", train, test, CHANNELS, [1])
    assert list(parent.iterdir()) == []
    # An undeclared label value fails too, and an existing export survives the failure.
    train, test = _split(_subjects(tmp_path / "ok", values=(1, 2)))
    out = parent / "Dataset506_Kept"
    with pytest.raises(InputError, match=r"label values \[2\]"):
        export_nnunet(out, train, test, CHANNELS, [1])
    export_nnunet(out, train, test, CHANNELS, [1, 2])
    with pytest.raises(InputError, match=r"label values \[2\]"):
        export_nnunet(out, train, test, CHANNELS, [1])
    assert [p.name for p in parent.iterdir()] == ["Dataset506_Kept"] and check_nnunet(out) == []
    # Re-exporting replaces the old folder.
    export_nnunet(out, {"sub-0": train["sub-0"]}, {}, CHANNELS, [1, 2])
    assert json.loads((out / "dataset.json").read_text())["numTraining"] == 1
    assert not (out / "imagesTs").exists() and [p.name for p in parent.iterdir()] == ["Dataset506_Kept"]


def test_bad_names_are_refused(tmp_path):
    train, test = _split(_subjects(tmp_path))
    with pytest.raises(ValueError, match="DatasetXXX_Name"):
        export_nnunet(tmp_path / "Phantom", train, test, CHANNELS, [1])
    with pytest.raises(ValueError, match="case ids"):
        export_nnunet(tmp_path / "Dataset507_X", {"a b": train["sub-0"]}, {}, CHANNELS, [1])
    with pytest.raises(ValueError, match="distinct positive"):
        export_nnunet(tmp_path / "Dataset507_X", train, test, CHANNELS, [0, 1])


def test_check_reports_each_problem(tmp_path):
    train, test = _split(_subjects(tmp_path))
    out = tmp_path / "Dataset508_Check"
    export_nnunet(out, train, test, CHANNELS, [1])
    assert check_nnunet(out) == []

    (out / "imagesTr" / "sub-1_0001.nii.gz").unlink()
    label = np.zeros((8, 8, 4), np.uint8)
    label[0, 0, 0] = 7
    write_nifti(out / "labelsTr" / "sub-0.nii.gz", label, _affine(0))
    write_nifti(out / "imagesTs" / "sub-3_0000.nii.gz", np.zeros((8, 8, 4), np.float32), _affine(0.5))
    meta = json.loads((out / "dataset.json").read_text())
    meta["numTraining"] = 5
    (out / "dataset.json").write_text(json.dumps(meta))

    problems = check_nnunet(out)
    assert len(problems) == 4, problems
    assert any("sub-1 has channels _0000" in p for p in problems)
    assert any("sub-0.nii.gz: values [7]" in p for p in problems)
    assert any("sub-3_0000.nii.gz: affine differs" in p for p in problems)
    assert any("numTraining is 5 but labelsTr has 3" in p for p in problems)

    (out / "labelsTr" / "sub-2.nii.gz").unlink()
    meta["labels"] = {"background": 0, "class_1": 1, "class_4": 4}
    (out / "dataset.json").write_text(json.dumps(meta))
    problems = check_nnunet(out)
    assert any("sub-2 has no label" in p for p in problems)
    assert any("not consecutive" in p for p in problems)
    (out / "dataset.json").unlink()
    assert check_nnunet(out) == [f"{out / 'dataset.json'}: missing"]
