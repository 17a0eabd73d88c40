import nibabel as nib
import numpy as np
import pytest

from radsynth.io import InputError
from radsynth.temporal.acdc import read_acdc
from radsynth.temporal.data import as_slices, pack, pairs, phantom_cines, split_subjects, unpack
from radsynth.temporal.phantom import LV, MYO, RV, UNLABELLED, cine_subject


def test_phantom_contracts_with_an_incompressible_wall():
    cine = cine_subject(0, 3, size=64, frames=8)
    assert cine.frames.shape == (8, 64, 64) and cine.labels.shape == (8, 64, 64)
    lv = [(frame == LV).sum() for frame in cine.labels]
    assert all(a > b for a, b in zip(lv, lv[1:]))  # the cavity shrinks from ED to ES ...
    assert lv[-1] < 0.8 * lv[0]
    myo = np.array([(frame == MYO).sum() for frame in cine.labels])
    assert myo.std() / myo.mean() < 0.08  # ... while the wall keeps its area (pixelised)
    assert all((frame == RV).sum() > 20 for frame in cine.labels)
    blood = cine.frames[0][cine.labels[0] == LV].mean()
    assert blood > cine.frames[0][cine.labels[0] == MYO].mean() + 0.3  # bright blood, grey muscle
    assert np.array_equal(cine_subject(0, 3, size=64, frames=8).frames, cine.frames)  # seeded


def test_phantom_in_3d_tapers_to_the_apex():
    cine = cine_subject(0, 1, size=48, frames=3, depth=6)
    assert cine.frames.shape == (3, 48, 48, 6)
    lv = [(cine.labels[0, ..., z] == LV).sum() for z in range(6)]
    assert lv[0] > lv[-1] > 0
    slices = as_slices(cine, 2)
    assert [s.name for s in slices][:2] == ["cine001_z00", "cine001_z01"] and slices[0].frames.shape == (3, 48, 48)
    with pytest.raises(ValueError, match="at least ED and ES"):
        cine_subject(0, 1, frames=1)


def test_split_is_by_subject_and_pack_round_trips():
    cines = phantom_cines(0, 5, size=32, frames=3, depth=None, noise=0.0)
    split = split_subjects([c.name for c in cines], 0.4, seed=1)
    assert len(split["test"]) == 2 and not set(split["train"]) & set(split["test"])
    assert sorted(split["train"] + split["test"]) == sorted(c.name for c in cines)
    back = unpack(pack(cines[:2]))
    assert [c.name for c in back] == ["cine000", "cine001"] and np.array_equal(back[1].labels, cines[1].labels)
    sources, targets = pairs(back)
    assert sources.shape == (2, 1, 32, 32) and np.array_equal(targets[0, 0], cines[0].frames[-1])
    with pytest.raises(ValueError, match="at least 2 subjects"):
        split_subjects(["one"], 0.5, 0)


def write_acdc(folder, frames=12, ed=1, es=9, shape=(20, 24, 3)):
    """A patient in ACDC's layout: Info.cfg, the 4D cine, ED and ES frames with labels."""
    folder.mkdir(parents=True)
    name = folder.name
    (folder / "Info.cfg").write_text(f"ED: {ed}\nES: {es}\nGroup: NOR\nHeight: 170.0\nNbFrame: {frames}\nWeight: 70.0\n")
    rng = np.random.default_rng(0)
    cine = rng.random((*shape, frames)).astype(np.float32) * 100
    nib.save(nib.Nifti1Image(cine, np.eye(4)), folder / f"{name}_4d.nii.gz")
    for frame in (f for f in (ed, es) if f <= frames):
        nib.save(nib.Nifti1Image(cine[..., frame - 1], np.eye(4)), folder / f"{name}_frame{frame:02d}.nii.gz")
        label = np.zeros(shape, np.uint8)
        label[5:10, 6:12, :] = 3 if frame == ed else 2
        nib.save(nib.Nifti1Image(label, np.eye(4)), folder / f"{name}_frame{frame:02d}_gt.nii.gz")
    return cine


def test_acdc_adapter_reads_ed_to_es_with_their_labels(tmp_path):
    cine = write_acdc(tmp_path / "patient001")
    subject = read_acdc(tmp_path / "patient001", size=32)
    assert subject.frames.shape == (9, 32, 32, 3)  # frames 1..9, centred in 32 x 32
    peak = np.percentile(cine[..., :9], 99.5)
    assert np.allclose(subject.frames[4, 6:26, 4:28], np.clip(cine[..., 4] / peak, 0, 1), atol=1e-6)
    assert (subject.labels[0, 11:16, 10:16] == 3).all() and (subject.labels[-1, 11:16, 10:16] == 2).all()
    assert (subject.labels[1:-1] == UNLABELLED).all()


def test_acdc_adapter_errors_name_the_file(tmp_path):
    write_acdc(tmp_path / "patient002", es=14)
    with pytest.raises(InputError, match=r"patient002_4d.nii.gz: has shape .*ED 1 and ES 14"):
        read_acdc(tmp_path / "patient002")
    (tmp_path / "patient003").mkdir()
    with pytest.raises(InputError, match="Info.cfg: is missing"):
        read_acdc(tmp_path / "patient003")
