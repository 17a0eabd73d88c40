"""Each preset of config/experiments/ ingests its example in ../shared/data through the
workflow (skipped when the folder is absent): checks and preprocessing, split, SDF, pack, data
report, at the preset's own sizes (data stages only, so at the quick scale, which bounds
nothing); the NIfTI example is exported to nnU-Net and read back with the msd adapter; the LGG
example runs the whole DAG at the tiny scale, the LA one the DTC segmenters, the BUSI one a
ControlNet of the comparison with its prompts."""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from radsynth.export.nnunet import check_nnunet
from tests.workflow.tinydag import REPO, snakemake

SHARED = REPO.parent / "shared" / "data"
# preset -> (data folder, subjects, channels, in-plane size)
PRESETS = {
    "brats_like": ("brats_like", 2, 4, (96, 96)),
    "la2018_h5": ("la2018_h5", 12, 1, (112, 80)),  # 1.25 mm, around the atrium
    "busi": ("busi", 80, 1, (128, 128)),
    "emitdiff_busi_cpu": ("busi", 80, 1, (64, 64)),
    "lgg_slices": ("lgg_kaggle3m", 6, 3, (128, 128)),
}


def _config(preset, workdir, **extra):
    """The preset with its paths made absolute (the run happens in a temporary folder)."""
    config = yaml.safe_load((REPO / "config" / "experiments" / f"{preset}.yaml").read_text())
    config["dataset"]["root"] = str(SHARED / PRESETS[preset][0])
    lists = config.get("split", {}).get("lists")
    if lists:
        config["split"]["lists"] = {split: str(REPO / path) for split, path in lists.items()}
    for key, value in extra.items():
        config.setdefault(key, {}).update(value)
    path = workdir / f"{preset}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, config


def _run(workdir, config_path, *targets, scale="tiny"):
    done = snakemake(workdir, "--cores", "2", "--configfile", str(config_path), "--config", f"scale={scale}",
                     "--", *targets, timeout=1800)
    assert done.returncode == 0, done.stderr[-5000:]


def _no_overlap(splits):
    assert splits["subject"].is_unique
    sets = [set(splits.loc[splits["split"] == name, "subject"]) for name in ("train", "val", "test")]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])


@pytest.mark.realdata
@pytest.mark.integration
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_prepares_its_example(preset, tmp_path):
    folder, subjects, channels, size = PRESETS[preset]
    if not (SHARED / folder).exists():
        pytest.skip(f"{SHARED / folder} is absent")
    config_path, config = _config(preset, tmp_path)
    _run(tmp_path, config_path, "prepare", scale="quick")
    results = tmp_path / "results" / config["dataset"]["name"]

    report = pd.read_csv(results / "data" / "subjects.tsv", sep="\t")
    assert len(report) == subjects and report["subject"].is_unique
    assert (results / "figures" / "data.png").stat().st_size > 10_000
    splits = pd.read_csv(results / "splits.tsv", sep="\t")
    _no_overlap(splits)
    assert set(splits["subject"]) == set(report["subject"])

    packed = np.load(results / "packed" / "train.npz")
    assert packed["image"].shape[1:] == (channels, *size)
    assert set(packed["subject"]) <= set(splits.loc[splits["split"] == "train", "subject"])
    assert np.isfinite(packed["image"]).all() and packed["label"].max() <= len(config["dataset"]["classes"])
    image = nib.load(next((results / "preprocessed").glob("*/label.nii.gz")))
    assert image.shape[:2] == size
    if preset == "brats_like":  # reoriented to RAS, resampled to 2 mm
        assert nib.aff2axcodes(image.affine) == ("R", "A", "S")
        assert np.allclose(nib.affines.voxel_sizes(image.affine), 2.0)
        assert set(np.unique(packed["label"])) <= {0, 1, 2, 3}
    if preset == "busi":  # strata (the pathology from the file names) recorded, both in test
        test = splits.loc[splits["split"] == "test"]
        assert set(test["stratum"]) == {"benign", "malignant"} and 8 <= len(test) <= 24  # 20 % of 80
        assert "benign (10)" in set(report["name"]) and "benign_10" in set(report["subject"])
    if preset == "la2018_h5":  # the fixed lists
        test = splits.loc[splits["split"] == "test", "subject"]
        assert sorted(test) == ["3C2QTUNI0852XV7ZH4Q1", "3DA0T2V6JJ2NLUAV6FWM", "4498CA6DZWELOXCBRYRF", "45C45I6IXAFGNRO067W9"]


@pytest.mark.realdata
@pytest.mark.integration
def test_nnunet_export_passes_the_structural_check_and_reads_back_as_msd(tmp_path):
    if not (SHARED / "brats_like").exists():
        pytest.skip("brats_like is absent")
    config_path, _ = _config("brats_like", tmp_path)
    _run(tmp_path, config_path, "export_nnunet", scale="quick")
    exported = tmp_path / "results" / "brats_like" / "nnunet" / "Dataset500_brats_like"
    assert check_nnunet(exported) == []
    meta = json.loads((exported / "dataset.json").read_text())
    assert meta["channel_names"] == {"0": "t1", "1": "t1c", "2": "t2", "3": "flair"}
    assert meta["numTraining"] == 1 and len(list((exported / "imagesTs").glob("*_0000.nii.gz"))) == 1

    # The export is an MSD / nnU-Net raw dataset: the msd adapter takes it through the workflow.
    again = tmp_path / "again"
    again.mkdir()
    msd = {"dataset": {"name": "roundtrip", "kind": "msd", "root": str(exported), "channels": ["t1", "t2"],
                       "classes": [1, 2, 3]},
           "preprocess": {"size": [96, 96], "foreground": "nonzero"},
           "split": {"fractions": {"train": 0.5, "val": 0.0, "test": 0.5}},
           "translation": {"source": "t1", "target": "t2"}, "segmentation": {"channels": ["t1", "t2"]}}
    (again / "msd.yaml").write_text(yaml.safe_dump(msd))
    _run(again, again / "msd.yaml", "results/roundtrip/data/subjects.tsv")  # one case: no split
    report = pd.read_csv(again / "results" / "roundtrip" / "data" / "subjects.tsv", sep="\t")
    assert len(report) == 1  # labelsTr holds the training case


@pytest.mark.realdata
@pytest.mark.integration
def test_lgg_slices_run_the_whole_dag(tmp_path):
    if not (SHARED / "lgg_kaggle3m").exists():
        pytest.skip("lgg_kaggle3m is absent")
    config_path, _ = _config("lgg_slices", tmp_path, preprocess={"size": [64, 64]})
    _run(tmp_path, config_path)
    results = tmp_path / "results" / "lgg"
    for table in ("translation", "segmentation", "augmentation", "synthesis", "anomaly"):
        assert len(pd.read_csv(results / "tables" / f"{table}.csv")) > 0, table
    for figure in ("data", "translation", "synthetic", "losses", "dice", "anomaly", "anomaly_sweep"):
        assert (results / "figures" / f"{figure}.png").exists(), figure
    # The preset has no val patient: the anomaly stage takes the first L and scale, and says so.
    chosen = json.loads((results / "metrics" / "anomaly" / "chosen.json").read_text())
    assert chosen["by"] == "no val lesion slice" and chosen["chosen"]["guided"] == {"noise_level": 300, "scale": 30.0}
    scored = pd.read_csv(results / "metrics" / "anomaly" / "test.csv")
    splits = pd.read_csv(results / "splits.tsv", sep="\t")
    test = set(splits.loc[splits["split"] == "test", "subject"])
    assert {case.rsplit("_z", 1)[0] for case in scored["case"] if case != "all"} <= test


@pytest.mark.realdata
@pytest.mark.integration
def test_la_volumes_pack_for_3d_networks(tmp_path):
    if not (SHARED / "la2018_h5").exists():
        pytest.skip("la2018_h5 is absent")
    config_path, _ = _config("la2018_h5", tmp_path, preprocess={"size": [96, 96, 64]})
    _run(tmp_path, config_path, "results/la2018/packed/volumes/test.npz", scale="quick")
    packed = np.load(tmp_path / "results" / "la2018" / "packed" / "volumes" / "test.npz")
    assert packed["image"].shape == (4, 1, 96, 96, 64) and packed["sdf"].shape == (4, 1, 96, 96, 64)
    assert packed["label"].any(axis=(1, 2, 3)).all()  # the crop keeps each atrium
    sdf, label = packed["sdf"][:, 0], packed["label"]
    assert (sdf[label > 0] <= 0).all() and (sdf[label == 0] >= 0).all()  # DTC sign: negative inside
    assert np.allclose(packed["spacing"], 1.25)  # the preset resamples to 1.25 mm


@pytest.mark.realdata
@pytest.mark.integration
def test_dtc_la_cpu_runs_end_to_end(tmp_path):
    if not (SHARED / "la2018_h5").exists():
        pytest.skip("la2018_h5 is absent")
    PRESETS.setdefault("dtc_la_cpu", PRESETS["la2018_h5"])
    short = {"iterations": 4, "patch_size": [32, 32, 16], "stride": [16, 16, 8]}
    config_path, _ = _config("dtc_la_cpu", tmp_path, segmentation=short)
    _run(tmp_path, config_path, "results/dtc_la_cpu/tables/segmentation.md")
    results = tmp_path / "results" / "dtc_la_cpu"
    table = (results / "tables" / "segmentation.md").read_text()
    assert "DTC" in table and "LCC" in table and "95HD (vox)" in table
    metrics = pd.read_csv(results / "metrics" / "segmentation" / "dtc-none-n2-s0.csv")
    assert metrics["case"].nunique() == 4  # the four test cases, each a whole volume
    values = metrics.pivot(index="case", columns="metric", values="value").dropna()
    # isotropic 1.25 mm voxels after resampling: mm = 1.25 x voxels
    np.testing.assert_allclose(values["hd95"], 1.25 * values["hd95_vox"], rtol=1e-6)
    sidecar = json.loads((results / "models" / "segmentation" / "dtc-none-n2-s0.json").read_text())
    assert len(sidecar["run"]["labelled_subjects"]) == 2 and sidecar["architecture"]["spatial_dims"] == 3
    prediction = nib.load(next((results / "predictions" / "segmentation" / "dtc-none-n2-s0").glob("*.nii.gz")))
    assert prediction.shape == (32, 32, 32)  # the preset's 112 x 80 x 48 grid, bounded by the tiny scale


@pytest.mark.realdata
@pytest.mark.integration
def test_emitdiff_controlnet_on_breast_ultrasound_uses_its_folds_and_file_name_prompts(tmp_path):
    if not (SHARED / "busi").exists():
        pytest.skip("busi is absent")
    # The first 16 of the 80 pairs (benign ones, by identifier); one ControlNet per fold, the
    # comparison's segmenters are the LGG whole-DAG test's.
    config_path, _ = _config("emitdiff_busi_cpu", tmp_path, dataset={"limit": 16}, augmentation={"folds": 2})
    name = "results/emitdiff_busi_cpu"
    _run(tmp_path, config_path, f"{name}/synthetic/cv0_train/controlnet.npz", f"{name}/synthetic/cv1_train/controlnet.npz")
    results = tmp_path / name
    folds = pd.read_csv(results / "cv_folds.tsv", sep="\t")
    for fold in (0, 1):
        provenance = json.loads((results / "synthetic" / f"cv{fold}_train" / "controlnet.json").read_text())
        # prompts carry the pathology of each training image's file name
        assert provenance["prompts"] == ["ultrasound breast benign"]
        held_out = set(folds.loc[folds["cv_fold"] == fold, "subject"])
        assert provenance["source_subjects"] and not set(provenance["source_subjects"]) & held_out
