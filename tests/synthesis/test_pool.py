import shutil

import numpy as np
import pytest
from skimage.io import imread, imsave

import radsynth.synthesis.pool
from radsynth.io import InputError, save_arrays
from radsynth.synthesis.pool import joint_pool, labelled_slices, pool_channels, pool_slices
from radsynth.synthesis.prompts import describe
from tests.workflow.tinydag import make_picture_pairs

OPTIONS = {"size": [24, 24], "fit": "resize", "foreground": "all", "orientation": None}


def pictures(root, name: str) -> dict:
    """The config of a BUSI-like picture dataset under ``root``."""
    return {
        "name": name, "kind": "image_pairs", "root": str(root), "channels": ["grey"], "classes": [1],
        "images": "images", "masks": "masks", "mask_suffix": "", "label_map": {"255": 1},
        "prompt": {"modality": ["ultrasound"], "organ": ["breast"], "pathology_pattern": "^(benign|malignant)"},
    }  # fmt: skip


@pytest.fixture
def task(tmp_path):
    """The task's pictures, and other pictures of the same shapes (their masks equal the task's)."""
    make_picture_pairs(tmp_path / "task", 4)
    make_picture_pairs(tmp_path / "other", 4)
    rng = np.random.default_rng(1)
    for image in sorted((tmp_path / "other" / "images").iterdir()):
        imsave(image, rng.integers(0, 255, imread(image).shape, dtype=np.uint8), check_contrast=False)
    return pictures(tmp_path / "task", "busi")


def test_pool_channels_fill_the_task_channels():
    assert pool_channels(["grey"], None, 3) == ["grey", "grey", "grey"]
    assert pool_channels(["t1", "t2", "flair", "pd"], None, 3) == ["t1", "t2", "flair"]
    assert pool_channels(["t1", "t2"], ["t2", "t1"], 2) == ["t2", "t1"]
    with pytest.raises(ValueError, match="among"):
        pool_channels(["t1"], ["t2"], 1)
    with pytest.raises(ValueError, match="1 or 3"):
        pool_channels(["t1", "t2"], ["t1", "t2"], 3)


def test_pool_slices_are_on_the_task_grid_with_their_prompts(tmp_path, task):
    pool = pool_slices(pictures(tmp_path / "other", "pictures"), OPTIONS, ["grey", "grey"], min_foreground=0.0, task=task)
    assert pool["image"].shape == (4, 2, 24, 24) and pool["image"].dtype == np.float32
    assert pool["image"].min() >= -1 and pool["image"].max() <= 1
    assert {describe(t) for t in pool["tokens"]} == {"ultrasound breast benign", "ultrasound breast malignant"}
    assert len(set(pool["subject"])) == 4
    # The labels come along (the pool ControlNet's control maps mark their boundaries).
    assert pool["label"].shape == (4, 24, 24) and pool["label"].dtype == np.uint8 and pool["label"].any()


def test_a_pool_that_is_the_task_data_under_another_name_is_refused(tmp_path, task):
    shutil.copytree(tmp_path / "task", tmp_path / "copy")
    with pytest.raises(InputError, match=r"pool dataset 'pictures' \(subject benign_2\) is the task's data: .*busi.*test subjects") as refused:
        pool_slices(pictures(tmp_path / "copy", "pictures"), OPTIONS, ["grey"], min_foreground=0.0, task=task)
    assert refused.value.path == str(tmp_path / "copy" / "images" / "benign (2).png")
    assert str(tmp_path / "task" / "images" / "benign (2).png") in refused.value.reason


def test_one_task_subject_copied_into_other_data_is_refused(tmp_path, task):
    # Other pictures plus one of the task's subjects: that subject alone is refused. The other
    # subjects' masks equal the task's (same shapes, same rectangle), but their images do not.
    for folder in ("images", "masks"):
        shutil.copy(tmp_path / "task" / folder / "malignant (3).png", tmp_path / "other" / folder / "malignant (9).png")
    with pytest.raises(InputError, match=r"subject malignant_9\) is the task's data") as refused:
        pool_slices(pictures(tmp_path / "other", "pictures"), OPTIONS, ["grey"], min_foreground=0.0, task=task)
    assert refused.value.path == str(tmp_path / "other" / "images" / "malignant (9).png")
    (tmp_path / "other" / "images" / "malignant (9).png").unlink()
    (tmp_path / "other" / "masks" / "malignant (9).png").unlink()
    pool = pool_slices(pictures(tmp_path / "other", "pictures"), OPTIONS, ["grey"], min_foreground=0.0, task=task)
    assert sorted(set(pool["subject"])) == ["benign_2", "benign_4", "malignant_1", "malignant_3"]


def test_only_files_of_equal_size_are_hashed(tmp_path, task, monkeypatch):
    hashed = []
    real = radsynth.synthesis.pool.file_hash
    monkeypatch.setattr(radsynth.synthesis.pool, "file_hash", lambda path: hashed.append(path) or real(path))
    for path in (tmp_path / "other").glob("*/*.png"):  # one byte more than every task file
        path.write_bytes(path.read_bytes() + b"\0")
    pool_slices(pictures(tmp_path / "other", "pictures"), OPTIONS, ["grey"], min_foreground=0.0, task=task)
    assert hashed == []  # no pool file has a task file's size: nothing is read to compare


PHANTOM_POOL = {"name": "phantom_pool", "kind": "phantom", "subjects": 2, "shape": [24, 24, 8], "fov_mm": [224.0, 224.0, 144.0],
                "channels": ["t1", "t2"], "classes": [1], "lesion_probability": 1.0, "noise": 0.02, "bias": 0.15,
                "prompt": {"modality": ["mri"], "organ": ["head"]}}  # fmt: skip


def test_a_phantom_pool_renders_subjects_of_its_own_seed():
    from radsynth.data.phantom import make_subject

    options = {"size": [24, 24], "orientation": None}
    pool = pool_slices(PHANTOM_POOL, options, ["t1", "t2"], min_foreground=0.0, task={"kind": "phantom", "root": "x"}, seed=7)
    # Named apart from the task's phantom_000, phantom_001 (provenance lists them beside the task's).
    assert sorted(set(pool["subject"])) == ["phantom_pool.phantom_000", "phantom_pool.phantom_001"]
    assert pool["image"].shape == (16, 2, 24, 24) and {describe(t) for t in pool["tokens"]} == {"mri head"}
    # The lesions are seed 7's: each subject's lesion voxels (preprocessing only reorders the axes
    # here) are as many as that subject rendered with seed 7 has, not as the task's seed 0 gives.
    def lesion_voxels(index, seed):
        return int(make_subject(index, seed, shape=(24, 24, 8), contrasts=("t1",), lesion_probability=1.0).lesion.sum())

    drawn = [int(pool["label"][pool["subject"] == f"phantom_pool.phantom_00{i}"].sum()) for i in (0, 1)]
    assert drawn == [lesion_voxels(i, 7) for i in (0, 1)] != [lesion_voxels(i, 0) for i in (0, 1)]


def test_a_phantom_pool_without_a_seed_is_refused():
    with pytest.raises(ValueError, match="'phantom_pool': a phantom pool needs its own seed"):
        pool_slices(PHANTOM_POOL, {"size": [24, 24]}, ["t1", "t2"], task={"kind": "phantom", "root": "x"})


def pool_file(path, labels: list[int]) -> str:
    """A pool slice file with one 2 x 2 slice per entry of ``labels``, labelled that value."""
    count = len(labels)
    save_arrays(
        path,
        image=np.arange(count * 4, dtype=np.float32).reshape(count, 1, 2, 2),
        label=np.array([np.full((2, 2), value, np.uint8) for value in labels]),
        tokens=np.zeros((count, 4), np.int64),
        subject=np.array([f"s{i}" for i in range(count)]),
    )
    return str(path)


def test_labelled_slices_keep_the_lesion_slices_of_a_labelled_pool(tmp_path):
    from radsynth.io import load_arrays

    kept = labelled_slices(load_arrays(pool_file(tmp_path / "a.npz", [0, 1, 0, 2])))
    assert list(kept["subject"]) == ["s1", "s3"] and kept["image"][:, 0, 0, 0].tolist() == [4.0, 12.0]
    # An unlabelled dataset (pictures without masks) keeps every slice for the base UNet.
    assert len(labelled_slices(load_arrays(pool_file(tmp_path / "b.npz", [0, 0, 0])))["subject"]) == 3


def test_the_joint_ddpm_pool_is_the_labelled_slices_of_the_labelled_datasets(tmp_path):
    labelled, unlabelled = pool_file(tmp_path / "a.npz", [0, 1, 1]), pool_file(tmp_path / "b.npz", [0, 0])
    pool = joint_pool([labelled, unlabelled], classes=1)
    assert list(pool["subject"]) == ["s1", "s2"] and pool["label"].max() == 1
    with pytest.raises(ValueError, match="has a labelled slice for the joint DDPM"):
        joint_pool([unlabelled], classes=1)
    with pytest.raises(InputError, match="has label 2, but the task has 1 foreground classes") as refused:
        joint_pool([pool_file(tmp_path / "c.npz", [2])], classes=1)
    assert refused.value.path == str(tmp_path / "c.npz")
