"""Every preset in config/experiments/ validates and builds its DAG (a dry run), with its data
folder pointed at ../shared/data or, for the GPU presets, at a generated dataset of the layout."""

import re
import sys

import pytest
import yaml

from tests.workflow.tinydag import REPO, make_picture_pairs, snakemake

sys.path.insert(0, str(REPO / "benchmarks"))
from dry_run import make_dataset  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
ROOTS = {
    "brats_like": SHARED / "brats_like",
    "la2018_h5": SHARED / "la2018_h5",
    "dtc_la_cpu": SHARED / "la2018_h5",
    "dtc_la": None,  # generated: the DTC h5 layout with train.list / test.list
    "busi": SHARED / "busi",
    "emitdiff_busi_cpu": SHARED / "busi",
    "emitdiff_busi": None,  # generated: BUSI picture pairs
    "lgg_slices": SHARED / "lgg_kaggle3m",
    "reggan_lgg_cpu": SHARED / "lgg_kaggle3m",
    "reggan_brats": None,  # generated: BraTS 2021 naming
    "anomaly_brats": None,  # generated: BraTS 2021 naming
    "anomaly_lgg_cpu": SHARED / "lgg_kaggle3m",
    "recon_paper": None,  # generated: BraTS 2021 naming
    "recon_phantom_cpu": None,  # the embedded phantom
    "reggan_baselines_phantom_cpu": None,  # the embedded phantom
    "emitdiff_pool_phantom_cpu": None,  # the embedded phantom
    "temporal_acdc": None,  # generated: the ACDC layout
    "temporal_phantom_cpu": None,  # the embedded phantoms
}


def make_h5_dataset(root, train: int, test: int) -> dict:
    """Cases in the DTC layout (<case>/mri_norm2.h5) and its train.list / test.list."""
    import h5py
    import numpy as np

    rng = np.random.default_rng(0)
    names = [f"case{i}" for i in range(train + test)]
    for name in names:
        (root / name).mkdir(parents=True)
        with h5py.File(root / name / "mri_norm2.h5", "w") as h5:
            h5["image"] = rng.normal(size=(40, 36, 24)).astype(np.float32)
            label = np.zeros((40, 36, 24), np.uint8)
            label[10:30, 10:26, 6:18] = 1
            h5["label"] = label
    lists = {"train": names[:train], "test": names[train:]}
    for split, cases in lists.items():
        (root / f"{split}.list").write_text("\n".join(cases) + "\n")
    return {split: str(root / f"{split}.list") for split in lists}


def test_every_preset_is_covered():
    assert {p.stem for p in (REPO / "config" / "experiments").glob("*.yaml")} == set(ROOTS)


@pytest.mark.integration
@pytest.mark.parametrize("preset", sorted(ROOTS))
def test_preset_builds_its_dag(preset, tmp_path):
    config = yaml.safe_load((REPO / "config" / "experiments" / f"{preset}.yaml").read_text())
    root = ROOTS[preset]
    lists = config.get("split", {}).get("lists")
    if lists:
        config["split"]["lists"] = {split: str(REPO / path) for split, path in lists.items()}
    kind = config.get("dataset", {}).get("kind", "phantom")
    if root is None and kind == "h5":
        root = tmp_path / "LA"
        config["split"]["lists"] = make_h5_dataset(root, train=3, test=2)
    elif root is None and kind == "image_pairs":
        root = tmp_path / "BUSI"
        make_picture_pairs(root, 12)
    elif root is None and kind == "phantom":
        root = tmp_path / "unused"  # the phantom rule writes its own subjects
    elif root is None:
        root = tmp_path / "brats"
        make_dataset(root, 4)
    elif not root.exists():
        pytest.skip(f"{root} is absent")
    config.setdefault("dataset", {})["root"] = str(root)
    if config.get("temporal", {}).get("source", {}).get("kind") == "acdc":
        from tests.temporal.test_data import write_acdc

        for name in ("patient001", "patient002"):
            write_acdc(tmp_path / "ACDC" / name)
        config["temporal"]["source"]["root"] = str(tmp_path / "ACDC")
    for entry in config.get("diffusion", {}).get("pretrain", {}).get("pool", []):  # EMIT-Diff's pool
        entry["dataset"]["root"] = str(tmp_path / entry["dataset"]["name"])
        make_picture_pairs(tmp_path / entry["dataset"]["name"], 4)
    (tmp_path / "preset.yaml").write_text(yaml.safe_dump(config))
    done = snakemake(tmp_path, "-n", "--configfile", str(tmp_path / "preset.yaml"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "preprocess" in done.stdout and "split" in done.stdout
    if preset.startswith("anomaly_"):  # only the anomaly stage and the reference segmenter
        assert re.search(r"^rule detect_anomalies:", done.stdout, re.M)
        assert not re.search(r"^rule train_translation:", done.stdout, re.M)
    if preset.startswith("temporal_"):  # only the temporal stage (and the reference segmenter)
        assert len(re.findall(r"^rule train_temporal:", done.stdout, re.M)) == 2
        assert re.search(r"^rule generate_frames:", done.stdout, re.M)
        assert not re.search(r"^rule (train_translation|detect_anomalies|train_recon):", done.stdout, re.M)
    if preset.startswith("recon_"):  # only the reconstruction stage (and the reference segmenter)
        assert len(re.findall(r"^rule train_recon:", done.stdout, re.M)) == 3
        assert not re.search(r"^rule (train_translation|detect_anomalies):", done.stdout, re.M)
    if preset == "emitdiff_busi":  # the official transfer: pool ControlNet, per fold only a ControlNet
        assert re.search(r"^rule pretrain_controlnet:", done.stdout, re.M)
        assert re.search(r"^rule train_controlnet:", done.stdout, re.M)
        assert not re.search(r"^rule train_diffusion:", done.stdout, re.M)


def test_emitdiff_preset_carries_the_official_values():
    # NUBagciLab/DiffBoost: segmentation_sample.py (sampling), finetune_segmentation_training.py
    # and segmentation_dataset.py (transfer), engine/network.py and configs/ (downstream).
    config = yaml.safe_load((REPO / "config" / "experiments" / "emitdiff_busi.yaml").read_text())
    diffusion, controlnet = config["diffusion"], config["diffusion"]["controlnet"]
    assert (diffusion["sampler"], diffusion["sampling_steps"], diffusion["eta"], diffusion["guidance_scale"]) == ("ddim", 20, 0, 9)
    assert diffusion["finetune_base"] is False and diffusion["pretrain"]["pool"]
    assert (controlnet["init"], controlnet["lr"], controlnet["batch_size"]) == ("pool", 1e-6, 32)
    assert (controlnet["flip"], controlnet["rotate"], controlnet["scale"]) == (False, 20, [0.75, 1.05])
    assert config["synthesis"]["per_mask"] == 50
    augmentation = config["augmentation"]
    assert (augmentation["synthetic_mixing"], augmentation["patch_mix"]) == ("patch_mask", {"patch": 64, "real_fraction": 0.6})
    assert (augmentation["folds"], augmentation["backbone"]) == (3, "attention_unet")
    assert (config["segmentation"]["batch_size"], config["segmentation"]["lr"]) == (8, 1e-3)
    assert config["preprocess"]["size"] == [384, 384]


def test_anomaly_preset_carries_the_official_values():
    # JuliaWolleb/diffusion-anomaly: README flags, scripts/classifier_sample_known.py defaults,
    # scripts/classifier_train.py defaults.
    anomaly = yaml.safe_load((REPO / "config" / "experiments" / "anomaly_brats.yaml").read_text())["anomaly"]
    assert (anomaly["train_timesteps"], anomaly["ddim_steps"], anomaly["noise_levels"], anomaly["scales"]) == (1000, 1000, [500], [100.0])
    ddpm, classifier = anomaly["ddpm"], anomaly["classifier"]
    assert (ddpm["batch_size"], ddpm["lr"], ddpm["label_dropout"], ddpm["unet"]["num_res_blocks"]) == (10, 1e-4, 0.0, 2)
    assert ddpm["unet"]["channels"] == [128 * m for m in (1, 1, 2, 2, 4, 4)]  # 256 px multipliers
    assert ddpm["unet"]["attention_levels"].index(True) == 4  # 256 / 2**4 = 16 px
    assert classifier["channels"] == [32 * m for m in (1, 1, 2, 2, 4, 4)] and classifier["num_res_blocks"] == 4
    assert [256 // 2**i for i, a in enumerate(classifier["attention_levels"]) if a] == [32, 16, 8]
    assert (classifier["lr"], classifier["iterations"], classifier["resblock_updown"]) == (3e-4, 150000, True)


def test_recon_preset_carries_the_official_values():
    # Theodore-PKU/MC-DDPM: utils/setting_utils/mcddpm_setting.py, README and the test slurm
    # scripts; cpeng93/DiffuseRecon: README, improved_diffusion/script_util_duo.py.
    config = yaml.safe_load((REPO / "config" / "experiments" / "recon_paper.yaml").read_text())
    recon, mc, dr = config["recon"], config["recon"]["mcddpm"], config["recon"]["diffuserecon"]
    assert config["preprocess"]["size"] == [320, 320] and recon["accelerations"] == [4, 8]
    assert (mc["train_timesteps"], mc["steps"], mc["samples"], mc["variance"], mc["clip_image"]) == (1000, 500, 20, "large", None)
    assert (mc["iterations"], mc["batch_size"], mc["lr"]) == (35000, 16, 1e-4)
    assert (mc["unet"]["channels"], mc["unet"]["num_res_blocks"]) == ([128, 128, 256, 256, 512], 2)
    assert mc["unet"]["attention_levels"] == [False] * 4 + [True]  # ds 16: 20 px of 320
    assert (dr["train_timesteps"], dr["steps"], dr["samples"], dr["variance"]) == (4000, 100, 10, "large")
    assert (dr["refine_chain"], dr["refine_steps"]) == (500, 20)
    assert (dr["iterations"], dr["lr"], dr["unet"]["num_res_blocks"]) == (150000, 1e-4, 3)
    assert dr["unet"]["channels"] == [128, 128, 256, 256, 512, 512] and not any(dr["unet"]["attention_levels"])


@pytest.mark.integration
def test_recon_reads_fastmri_files_when_pointed_at_them(tmp_path):
    from tests.recon.test_data import write_fastmri

    for split, names in {"singlecoil_train": ["file1000001", "file1000002"], "singlecoil_val": ["file1000003"]}.items():
        (tmp_path / "knee" / split).mkdir(parents=True)
        for name in names:
            write_fastmri(tmp_path / "knee" / split / f"{name}.h5")
    preset = tmp_path / "preset.yaml"
    preset.write_text(yaml.safe_dump({"scale": "tiny", "translation": {"methods": []}, "augmentation": {"folds": 0},
                                      "anomaly": {"methods": []},
                                      "recon": {"methods": ["zero_filled", "unet"], "fastmri": str(tmp_path / "knee")}}))
    done = snakemake(tmp_path, "results/phantom/tables/recon.md", "--cores", "2", "--configfile", str(preset))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    import json

    import pandas as pd

    results = tmp_path / "results" / "phantom"
    sidecar = json.loads((results / "models" / "recon" / "unet.json").read_text())
    assert sorted(sidecar["training_subjects"]) == ["file1000001", "file1000002"]
    metrics = pd.read_csv(results / "metrics" / "recon" / "test.csv")
    assert {case.split(":")[0] for case in metrics["case"]} == {"file1000003"}
    assert not (results / "packed").exists()  # nothing of the dataset was needed


def test_temporal_preset_carries_the_official_values():
    # torchDDM/DDM: config/DDM_train.json, model/ddpm_modules/diffusion.py, model/model.py
    temporal = yaml.safe_load((REPO / "config" / "experiments" / "temporal_acdc.yaml").read_text())["temporal"]
    ddm = temporal["ddm"]
    assert (ddm["train_timesteps"], ddm["weight"], ddm["window"], ddm["lr"], ddm["batch_size"]) == (2000, 20.0, 9, 2e-4, 1)
    assert ddm["iterations"] == 72000 and ddm["anchored"] is False
    assert ddm["code"]["channels"] == [8, 16, 32, 32] and ddm["code"]["norm_num_groups"] == 4
    assert (temporal["spatial_dims"], temporal["source"]["size"]) == (3, 128)
