"""The whole DAG at the tiny scale, run by Snakemake into a temporary folder."""

import json
from collections import Counter
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radsynth.split import subjects_in
from tests.workflow.tinydag import REPO, check_fold_structure_scores, snakemake

TABLES = ["translation", "translation_modes", "translation_unpaired", "segmentation", "augmentation", "synthesis",
          "anomaly", "recon", "temporal"]
FIGURES = ["data", "phantom", "sdf", "misalignment", "translation", "noise_curve", "synthetic", "structure_curve",
           "losses", "dice", "anomaly", "anomaly_sweep", "recon", "temporal", "benchmarks"]
# Report categories (STAGES in common.smk): the tiny run has a result in each.
STAGES = ["01. Data", "02. Misalignment", "03. SDF", "04. Translation", "05. Synthesis", "06. Augmentation",
          "07. Segmentation", "08. Anomaly detection", "09. Reconstruction", "10. Temporal generation",
          "11. Performance"]


@pytest.mark.integration
def test_every_table_has_numbers(tiny_run):
    for table in TABLES:
        summary = pd.read_csv(tiny_run / "tables" / f"{table}.csv")
        assert len(summary) > 0, table
        assert np.isfinite(summary["mean"]).any(), table
        assert (tiny_run / "tables" / f"{table}.md").read_text().count("±") > 0
        assert "tabular" in (tiny_run / "tables" / f"{table}.tex").read_text()
    translation = pd.read_csv(tiny_run / "tables" / "translation.csv")
    assert {"mae", "psnr", "ssim", "epe", "epe_identity"} <= set(translation["metric"])
    segmentation = pd.read_csv(tiny_run / "tables" / "segmentation.csv")
    assert set(segmentation["method"]) == {"supervised", "dtc"}
    augmentation = pd.read_csv(tiny_run / "tables" / "augmentation.csv")
    assert set(augmentation["method"]) == {"none", "rotate", "deepstack", "gan", "ddpm", "controlnet"}
    assert (augmentation.loc[augmentation["metric"] == "dice", "folds"] == 2).all()
    synthesis = pd.read_csv(tiny_run / "tables" / "synthesis.csv")
    assert {"structure_dice", "diversity", "ms_ssim_to_source", "fsd"} <= set(synthesis["metric"])
    assert "Structure Dice" in (tiny_run / "tables" / "augmentation.md").read_text()


@pytest.mark.integration
def test_figures_and_per_case_metrics(tiny_run):
    for figure in FIGURES:
        assert (tiny_run / "figures" / f"{figure}.png").stat().st_size > 10_000, figure
    metrics = pd.read_csv(tiny_run / "metrics" / "segmentation" / "dtc-none-25-s0.csv")
    assert list(metrics.columns) == ["case", "method", "setting", "metric", "value"]


@pytest.mark.integration
def test_every_model_and_table_has_a_provenance_sidecar(tiny_run):
    models = sorted(tiny_run.glob("models/**/*.pt"))
    tables = sorted((tiny_run / "tables").glob("*.csv"))
    assert models and tables
    in_git = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True).returncode == 0
    for path in models + tables:
        sidecar = json.loads(path.with_name(path.name + ".provenance.json").read_text())
        assert sidecar["config"]["scale"] == "tiny", path
        assert sidecar["data_hash"] and all(sidecar["data_hash"].values()), path
        assert sidecar["packages"]["torch"] and sidecar["packages"]["monai"], path
        if in_git:  # a commit of this checkout (HEAD may have moved on since the run)
            kind = subprocess.run(["git", "cat-file", "-t", sidecar["git"]["commit"]], cwd=REPO, capture_output=True, text=True)
            assert kind.stdout.strip() == "commit", path


@pytest.mark.integration
def test_splits_are_by_subject_and_synthetic_data_comes_from_training(tiny_run):
    splits = pd.read_csv(tiny_run / "splits.tsv", sep="\t")
    assert splits["subject"].is_unique
    train = set(splits.loc[splits["split"] == "train", "subject"])
    assert set(splits["split"]) == {"train", "val", "test"}
    for split in ("train", "test"):
        with np.load(tiny_run / "packed" / f"{split}.npz") as packed:
            assert set(packed["subject"]) == set(splits.loc[splits["split"] == split, "subject"])
    folds = pd.read_csv(tiny_run / "cv_folds.tsv", sep="\t")
    assert sorted(folds["subject"]) == sorted(splits["subject"])
    for fold in (0, 1):
        held_out = set(folds.loc[folds["cv_fold"] == fold, "subject"])
        with np.load(tiny_run / "packed" / f"cv{fold}_train.npz") as packed:
            assert set(packed["subject"]) == set(splits["subject"]) - held_out
        for generator in ("gan", "ddpm", "controlnet"):
            with np.load(tiny_run / "synthetic" / f"cv{fold}_train" / f"{generator}.npz") as synthetic:
                sources = set(synthetic["subject"]) - {""}  # "": the unconditional DDPM's own masks
                assert sources and not sources & held_out if generator != "ddpm" else not sources
            provenance = json.loads((tiny_run / "synthetic" / f"cv{fold}_train" / f"{generator}.json").read_text())
            assert not set(provenance["training_subjects"]) & held_out
            sidecar = json.loads((tiny_run / "models" / "synthesis" / f"cv{fold}_train" / f"{generator}.json").read_text())
            assert sidecar["generator"] == generator and sidecar["data_hash"]
    with np.load(tiny_run / "synthetic" / "train" / "controlnet.npz") as synthetic:
        assert set(synthetic["subject"]) <= train


@pytest.mark.integration
def test_anomaly_models_see_only_training_slices_and_test_scores_only_test_slices(tiny_run):
    splits = pd.read_csv(tiny_run / "splits.tsv", sep="\t")
    train, val, test = (set(splits.loc[splits["split"] == s, "subject"]) for s in ("train", "val", "test"))
    for model in ("ddpm", "classifier", "autoencoder"):
        sidecar = json.loads((tiny_run / "models" / "anomaly" / f"{model}.json").read_text())
        assert set(sidecar["training_subjects"]) == train, model
        hashed = json.loads((tiny_run / "models" / "anomaly" / f"{model}.pt.provenance.json").read_text())["data_hash"]
        assert [Path(key).name for key in hashed] == ["train.npz"], model
    metrics = pd.read_csv(tiny_run / "metrics" / "anomaly" / "test.csv")
    assert set(metrics["method"]) == {"guided", "classifier_free", "unguided", "autoencoder"}
    scored = {case.rsplit("_z", 1)[0] for case in metrics["case"] if case != "all"}
    assert scored and scored <= test
    with np.load(tiny_run / "packed" / "test.npz") as packed:
        lesion = int((packed["label"].reshape(len(packed["label"]), -1) > 0).any(axis=1).sum())
    assert (metrics["metric"] == "dice").sum() == 4 * lesion  # every test lesion slice, each method
    chosen = json.loads((tiny_run / "metrics" / "anomaly" / "chosen.json").read_text())["chosen"]
    assert chosen["guided"] == {"noise_level": 300, "scale": 30.0}  # tiny's one-cell sweep
    hashed = json.loads((tiny_run / "metrics" / "anomaly" / "test.csv.provenance.json").read_text())["data_hash"]
    assert sorted(Path(key).name for key in hashed) == sorted(
        ["ddpm.pt", "classifier.pt", "autoencoder.pt", "val.npz", "test.npz"])
    sweep = pd.read_csv(tiny_run / "metrics" / "anomaly" / "sweep.csv")
    assert len(sweep) == 3 and val  # guided, classifier_free and unguided at L 300 on val


@pytest.mark.integration
def test_recon_models_see_only_training_slices_and_test_scores_only_test_slices(tiny_run):
    splits = pd.read_csv(tiny_run / "splits.tsv", sep="\t")
    train, test = (set(splits.loc[splits["split"] == s, "subject"]) for s in ("train", "test"))
    for model in ("unet", "mcddpm", "diffuserecon"):
        sidecar = json.loads((tiny_run / "models" / "recon" / f"{model}.json").read_text())
        assert set(sidecar["training_subjects"]) == train, model
        hashed = json.loads((tiny_run / "models" / "recon" / f"{model}.pt.provenance.json").read_text())["data_hash"]
        assert [Path(key).name for key in hashed] == ["train.npz"], model
    metrics = pd.read_csv(tiny_run / "metrics" / "recon" / "test.csv")
    assert set(metrics["method"]) == {"zero_filled", "unet", "mcddpm", "diffuserecon"}
    assert set(metrics["setting"]) == {"4x", "8x"}
    scored = {case.split(":")[0] for case in metrics["case"]}
    assert scored and scored <= test
    assert metrics["case"].nunique() == 2  # tiny's recon.test_slices
    uncertain = set(metrics.loc[metrics["metric"] == "error_std_correlation", "method"])
    assert uncertain == {"mcddpm", "diffuserecon"}


@pytest.mark.integration
def test_temporal_models_see_only_training_cines_and_frames_are_scored_on_test_cines(tiny_run):
    splits = pd.read_csv(tiny_run / "temporal" / "splits.tsv", sep="\t")
    train, test = (set(splits.loc[splits["split"] == s, "subject"]) for s in ("train", "test"))
    assert train and test and not train & test
    for model in ("ddm", "registration"):
        sidecar = json.loads((tiny_run / "models" / "temporal" / f"{model}.json").read_text())
        assert set(sidecar["training_subjects"]) == train, model
    with np.load(tiny_run / "temporal" / "train.npz") as packed:
        assert set(packed["name"]) == train
    metrics = pd.read_csv(tiny_run / "metrics" / "temporal" / "test.csv")
    assert set(metrics["case"]) == test
    assert set(metrics["method"]) == {"ddm", "registration", "linear"}
    assert {"psnr", "nmse", "dice_LV", "dice_MYO", "dice_RV"} <= set(metrics["metric"])
    assert (tiny_run / "figures" / "temporal_cycle.gif").read_bytes()[:6] == b"GIF89a"


@pytest.mark.integration
def test_text_model_is_pretrained_on_the_pool_then_fine_tuned(tiny_run):
    with np.load(tiny_run / "pool" / "pictures.npz") as pool:
        assert pool["image"].shape[1:] == (3, 32, 32) and len(pool["image"]) == 6  # grey repeated to 3
        assert (pool["image"][:, 0] == pool["image"][:, 2]).all()
        pictures = sorted(set(pool["subject"]))
    pretrained = tiny_run / "models" / "synthesis" / "pool" / "diffusion.pt"
    # Each model records every subject its weights saw: a later run given one as
    # diffusion.pretrained refuses it if a fold tests on one of them.
    assert json.loads(pretrained.with_suffix(".json").read_text())["training_subjects"] == pictures
    splits = pd.read_csv(tiny_run / "splits.tsv", sep="\t")
    folds = pd.read_csv(tiny_run / "cv_folds.tsv", sep="\t")
    for pack in ("train", "cv0_train", "cv1_train"):
        sidecar = json.loads((tiny_run / "models" / "synthesis" / pack / "diffusion.json").read_text())
        assert sidecar["pretrained"] == str(pretrained.relative_to(tiny_run.parents[1]))
        table = folds if pack.startswith("cv") else splits
        # generators learn the slices with a labelled structure (synthesis.train_slices)
        with np.load(tiny_run / "packed" / f"{pack}.npz") as packed:
            labelled = {str(subject) for subject, label in zip(packed["subject"], packed["label"]) if label.any()}
        assert labelled and labelled <= set(subjects_in(table, pack))
        assert sidecar["training_subjects"] == sorted(labelled - curve_held_out(tiny_run, pack) | set(pictures))


def curve_held_out(run, pack):
    """The subjects a training set's generators were not trained on, for the structure curve."""
    if not pack.startswith("cv"):
        return set()
    curve = pd.read_csv(run / "tables" / "structure_curve.csv", dtype={"heldout_subjects": str})
    rows = curve[(curve["fold"] == int(pack[2:].split("_")[0])) & (curve["heldout_by"] == "subject")]
    return {s for cell in rows["heldout_subjects"] for s in cell.split(";")}


@pytest.mark.integration
def test_each_fold_structure_score_uses_only_its_training_masks(tiny_run):
    check_fold_structure_scores(tiny_run)
    curve = pd.read_csv(tiny_run / "tables" / "structure_curve.csv")
    for fold in (0, 1):  # tiny: a snapshot every 10 steps and at the end, from step 0
        steps = {g: curve.loc[(curve["fold"] == fold) & (curve["generator"] == g), "step"].tolist()
                 for g in ("gan", "ddpm", "controlnet")}  # fmt: skip
        assert steps == {"gan": [0, 10, 20], "ddpm": [0, 10, 20, 30], "controlnet": [0, 10]}
    for fold in (0, 1):  # a conditional sample's label, outlined in synthetic.png, is the mask it was given
        with np.load(tiny_run / "packed" / f"cv{fold}_train.npz") as pack:
            for generator in ("gan", "controlnet"):
                with np.load(tiny_run / "synthetic" / f"cv{fold}_train" / f"{generator}.npz") as pairs:
                    assert (pairs["label"] == pack["label"][pairs["source_row"]]).all(), generator
    ddpm = curve[curve["generator"] == "ddpm"]
    assert ddpm["nonempty_share"].between(0, 1).all() and curve.loc[curve["generator"] == "gan", "nonempty_share"].isna().all()
    assert (curve.loc[curve["generator"] == "real", "structure_dice"] >= 0).all()
    # Had a fold's scores been computed on the other fold's synthetic set, whose masks come
    # from this fold's test subjects, the check would say so.
    with pytest.raises(AssertionError, match="scored other pairs"):
        check_fold_structure_scores(tiny_run, lambda fold, g: tiny_run / "synthetic" / f"cv{1 - fold}_train" / f"{g}.npz")


def same_config(tiny_run):
    workdir = tiny_run.parents[1]
    return ["--configfile", str(workdir / "export.yaml"), "--config", "scale=tiny"]


@pytest.fixture(scope="module")
def tiny_report(tiny_run):
    """The HTML report of the tiny run, built once: its results and categories (the JSON the
    single-file report embeds for its viewer)."""
    workdir = tiny_run.parents[1]
    report = snakemake(workdir, "--cores", "1", *same_config(tiny_run), "--report", "report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    html = (workdir / "report.html").read_text()
    embedded = {
        name: json.loads(re.search(rf'<script id="{name}">\s*var {name} = (.*?);\s*</script>', html, re.S).group(1))
        for name in ("results", "categories")
    }
    return workdir / "report.html", embedded["results"], embedded["categories"]


@pytest.mark.integration
def test_rerun_has_nothing_to_do_and_report_builds(tiny_run, tiny_report):
    dry = snakemake(tiny_run.parents[1], "--cores", "1", *same_config(tiny_run), "--dry-run")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr
    assert tiny_report[0].stat().st_size > 100_000


@pytest.mark.integration
def test_report_has_every_stage_and_captions(tiny_run, tiny_report):
    _, results, categories = tiny_report
    assert sorted(categories) == STAGES
    listed = [path for subcategories in categories.values() for paths in subcategories.values() for path in paths]
    assert sorted(listed) == sorted(results)
    for path, result in results.items():
        assert result["caption"].strip(), f"{path} has no caption"
    assert {Path(p).name for paths in categories["08. Anomaly detection"].values() for p in paths} == {
        "anomaly.csv", "anomaly.md", "anomaly.tex", "anomaly.png", "anomaly_sweep.png"}
    assert {Path(p).name for paths in categories["09. Reconstruction"].values() for p in paths} == {
        "recon.csv", "recon.md", "recon.tex", "recon.png"}
    assert {Path(p).name for paths in categories["10. Temporal generation"].values() for p in paths} == {
        "temporal.csv", "temporal.md", "temporal.tex", "temporal.png", "temporal_cycle.gif"}
    performance = categories["11. Performance"]
    assert {Path(p).name for p in performance["Time and memory"]} == {"benchmarks.csv", "benchmarks.png"}
    assert {Path(p).name for paths in categories["01. Data"].values() for p in paths} == {
        "subjects.tsv", "data.png", "phantom.png"}
    table = next(result for path, result in results.items() if path.endswith("tables/benchmarks.csv"))
    assert "per rule" in table["caption"] and table["mime_type"] == "text/csv"


@pytest.mark.integration
def test_benchmark_table_has_every_job_of_the_dag(tiny_run):
    """The table's jobs per rule are those the run executed (every final output but the
    table's own), so its inputs add no job of their own: the run's log lists each job."""
    table = pd.read_csv(tiny_run / "tables" / "benchmarks.csv")
    assert list(table.columns) == ["rule", "jobs", "total_s", "mean_s", "max_s", "max_rss_mb", "mean_load",
                                   "cpu_time_s"]
    assert (table["total_s"] > 0).all() and table["total_s"].is_monotonic_decreasing
    log = (tiny_run.parents[1] / "run.log").read_text()
    ran = Counter(re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):$", log, re.M))
    assert ran.pop("all") == ran.pop("benchmark_table") == 1
    assert dict(zip(table["rule"], table["jobs"])) == dict(ran)
    on_disk = {p.relative_to(tiny_run / "benchmarks").parts[0].removesuffix(".tsv")
               for p in (tiny_run / "benchmarks").rglob("*.tsv")}
    assert on_disk - set(ran) == {"all", "benchmark_table"}


@pytest.mark.integration
def test_nnunet_exports_pass_the_structural_check(tiny_run):
    from radsynth.export.nnunet import check_nnunet

    plain, synthetic = tiny_run / "nnunet" / "Dataset500_phantom", tiny_run / "nnunet" / "Dataset501_phantomSynthetic"
    assert check_nnunet(plain) == [] and check_nnunet(synthetic) == []
    splits = pd.read_csv(tiny_run / "splits.tsv", sep="\t")
    train = set(splits.loc[splits["split"].isin(["train", "val"]), "subject"])
    assert {p.name.removesuffix(".nii.gz") for p in (plain / "labelsTr").iterdir()} == train
    cases = json.loads((synthetic / "dataset.json").read_text())["radsynth_synthetic_cases"]
    assert cases and all((synthetic / "labelsTr" / f"{case}.nii.gz").exists() for case in cases)
    # synthetic cases come from training subjects only
    assert all(any(case.startswith(f"synth_{s}_") for s in splits.loc[splits["split"] == "train", "subject"]) for case in cases)


@pytest.mark.integration
def test_mode_and_unpaired_tables_cover_their_runs(tiny_run):
    modes = pd.read_csv(tiny_run / "tables" / "translation_modes.csv")
    assert set(modes["method"]) == {"pix2pix", "cyclegan", "nc", "c_r", "nc_r"} and set(modes["setting"]) == {"level5"}
    table = (tiny_run / "tables" / "translation_modes.md").read_text()
    assert "Params (M)" in table and "C+R" in table
    unpaired = pd.read_csv(tiny_run / "tables" / "translation_unpaired.csv")
    assert set(unpaired["setting"]) == {"unpaired"} and "epe" not in set(unpaired["metric"])
    sidecar = json.loads((tiny_run / "models" / "translation" / "c_r_level5.json").read_text())
    nc_r = json.loads((tiny_run / "models" / "translation" / "nc_r_level5.json").read_text())
    assert nc_r["parameters"]["total"] < sidecar["parameters"]["total"]  # RegGAN: NC+R is smaller
    assert "Kept iteration" in table


@pytest.mark.integration
def test_translation_keeps_the_iteration_best_on_the_val_split(tiny_run):
    for sidecar_path in (tiny_run / "models" / "translation").glob("*.json"):
        if sidecar_path.name.endswith(".provenance.json"):
            continue
        sidecar = json.loads(sidecar_path.read_text())
        curve = pd.read_csv(sidecar_path.with_suffix(".val.tsv"), sep="\t")
        assert curve["iteration"].tolist() == [20, 40, 60], sidecar_path.name  # tiny: every 20 of 60
        assert sidecar["selected_iteration"] == curve.loc[curve["val_mae"].idxmin(), "iteration"]


@pytest.mark.integration
def test_redrawn_elastic_misalignment_trains(tmp_path):
    (tmp_path / "redraw.yaml").write_text("misalign: {redraw: true, elastic: 2.0}\n")
    target = "results/phantom/models/translation/nc_r_level5.pt"
    done = snakemake(tmp_path, "--cores", "2", "--configfile", str(tmp_path / "redraw.yaml"),
                     "--config", "scale=tiny", "--", target)
    assert done.returncode == 0, done.stderr[-5000:]
    sidecar = json.loads((tmp_path / target).with_suffix(".json").read_text())
    assert sidecar["misalign"] == {"levels": [0, 5], "elastic": 2.0, "redraw": True, "interpolation": "bilinear"}
    # Trained on aligned slices, misaligned afresh per batch; only the test pairs that score R
    # are stored at level 5.
    assert sorted(p.name for p in (tmp_path / "results" / "phantom" / "packed" / "level5").iterdir()) == ["test.npz"]


@pytest.mark.integration
def test_official_reggan_options_run_through_the_workflow(tmp_path):
    # reggan_brats.yaml's official choices at the tiny scale: nearest whole-pixel redraw, the
    # pooled D, the ResUnet R, and the last iteration tested and named in the table.
    (tmp_path / "official.yaml").write_text(
        "misalign: {levels: [5], redraw: true, interpolation: nearest}\n"
        "translation: {methods: [nc_r], modes: [nc_r], unpaired: [], selection: last,\n"
        "  discriminator: {pool: true}, registration: {network: resunet}}\n"
    )
    target = "results/phantom/tables/translation_modes.md"
    done = snakemake(tmp_path, "--cores", "2", "--configfile", str(tmp_path / "official.yaml"),
                     "--config", "scale=tiny", "--", target)
    assert done.returncode == 0, done.stderr[-5000:]
    sidecar = json.loads((tmp_path / "results/phantom/models/translation/nc_r_level5.json").read_text())
    networks = sidecar["architecture"]["networks"]
    assert networks["registration"]["network"] == "resunet" and networks["discriminator"]["pool"] is True
    assert sidecar["selection"] == "last" and sidecar["selected_iteration"] == sidecar["iterations"] == 60
    assert sidecar["misalign"]["interpolation"] == "nearest"
    assert "Kept iteration (last)" in (tmp_path / target).read_text()

    (tmp_path / "stored.yaml").write_text("misalign: {interpolation: nearest}\n")
    refused = snakemake(tmp_path, "-n", "--configfile", str(tmp_path / "stored.yaml"), "--config", "scale=tiny")
    assert refused.returncode != 0 and "misalign.interpolation nearest is the per-batch redraw" in refused.stdout + refused.stderr


@pytest.mark.integration
def test_translation_in_3d_on_whole_volumes(tmp_path):
    (tmp_path / "3d.yaml").write_text(
        "preprocess: {size: [32, 32, 12]}\n"
        "misalign: {levels: [5]}\n"
        "translation: {spatial_dims: 3, methods: [nc_r], modes: [pix2pix, nc_r], unpaired: [cyclegan]}\n"
    )
    run = tmp_path / "results" / "phantom"
    targets = [f"results/phantom/tables/{t}.md" for t in ("translation", "translation_modes", "translation_unpaired")]
    done = snakemake(tmp_path, "--cores", "2", "--configfile", str(tmp_path / "3d.yaml"), "--config", "scale=tiny",
                     "--", *targets, "results/phantom/figures/translation.png")
    assert done.returncode == 0, done.stderr[-5000:]
    with np.load(run / "packed" / "level5" / "train.npz") as pairs:
        assert pairs["source"].shape[1:] == (1, 32, 32, 12) and pairs["field"].shape[1:] == (3, 32, 32, 12)
    sidecar = json.loads((run / "models" / "translation" / "nc_r_level5.json").read_text())
    assert sidecar["architecture"]["spatial_dims"] == 3
    metrics = pd.read_csv(run / "metrics" / "translation" / "nc_r_level5.csv")
    splits = pd.read_csv(run / "splits.tsv", sep="\t")
    assert set(metrics["case"]) == set(splits.loc[splits["split"] == "test", "subject"])  # one case per volume
    assert {"epe", "epe_identity"} <= set(metrics["metric"])
    assert (run / "figures" / "translation.png").stat().st_size > 10_000
    assert (run / "models" / "translation" / "cyclegan_unpaired.pt").exists()


@pytest.mark.integration
def test_semi_supervised_methods_in_3d_on_patches(tmp_path):
    (tmp_path / "3d.yaml").write_text(
        "preprocess: {size: [32, 32, 12]}\n"
        "translation: {methods: []}\n"
        "segmentation: {spatial_dims: 3, patch_size: [16, 16, 8], stride: [8, 8, 4], rotate_flip: true,\n"
        "  methods: [supervised_sdf, mean_teacher], labelled: [2], seeds: [0, 1]}\n"
        "augmentation: {methods: []}\n"
    )
    run = tmp_path / "results" / "phantom"
    done = snakemake(tmp_path, "--cores", "2", "--configfile", str(tmp_path / "3d.yaml"), "--config", "scale=tiny",
                     "--", "results/phantom/tables/segmentation.md", "results/phantom/figures/losses.png")
    assert done.returncode == 0, done.stderr[-5000:]
    assert (run / "figures" / "losses.png").exists()  # without any generator too
    summary = pd.read_csv(run / "tables" / "segmentation.csv")
    assert set(summary["method"]) == {"supervised", "supervised_sdf", "mean_teacher"}
    assert set(summary["setting"]) == {"none-100", "none-n2"} and (summary["seeds"] == 2).all()
    table = (run / "tables" / "segmentation.md").read_text()
    assert "Mean teacher" in table and "LCC" in table
    sidecar = json.loads((run / "models" / "segmentation" / "mean_teacher-none-n2-s1.json").read_text())
    assert sidecar["architecture"]["spatial_dims"] == 3 and len(sidecar["run"]["labelled_subjects"]) == 2


@pytest.mark.integration
def test_latent_controlnet_through_the_workflow(tmp_path):
    (tmp_path / "latent.yaml").write_text(
        "translation: {methods: []}\n"
        "diffusion: {latent: {channels: [8, 16], latent_channels: 2, norm_num_groups: 8, iterations: 10, batch_size: 4}}\n"
    )
    target = "results/phantom/synthetic/cv0_train/controlnet.npz"
    done = snakemake(tmp_path, "--cores", "2", "--configfile", str(tmp_path / "latent.yaml"), "--config", "scale=tiny",
                     "--", target)
    assert done.returncode == 0, done.stderr[-5000:]
    models = tmp_path / "results" / "phantom" / "models" / "synthesis" / "cv0_train"
    sidecar = json.loads((models / "controlnet.json").read_text())
    assert sidecar["architecture"]["autoencoder"]["downsample"] == 2  # 32 px images, 16 px latents
    assert json.loads((models / "diffusion.json").read_text())["latent"]
    with np.load(tmp_path / target) as synthetic:
        assert synthetic["image"].shape[1:] == (3, 32, 32) and np.isfinite(synthetic["image"]).all()
