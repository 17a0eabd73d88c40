"""The quick scale's generator recipe at tiny size: a base UNet and a joint DDPM pretrained once
on phantom subjects of another seed, each fold training its ControlNet (base locked) and
fine-tuning its DDPM; no subject a fold tests on reaches any of them."""

import json

import numpy as np
import pandas as pd
import pytest

from radsynth.split import subjects_in
from tests.workflow.tinydag import snakemake

RESULTS = "results/phantom"
RECIPE = """
diffusion:
  finetune_base: false
  ddpm: {iterations: 4, lr_schedule: cosine}
  pretrain:
    pool:
      - dataset: {name: elsewhere, kind: phantom, subjects: 3, shape: [32, 32, 12], lesion_probability: 1.0,
                  channels: [t1, t2, flair], prompt: {modality: [mri, t1, t2, flair], organ: [head], pathology: [lesion]}}
        seed: 5
    iterations: 5
    ddpm: {iterations: 5}
translation: {methods: []}
"""


@pytest.mark.integration
def test_pool_pretrained_generators_see_the_pool_and_their_fold_only(tmp_path):
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    targets = [f"{RESULTS}/synthetic/cv{fold}_train/{g}.npz" for fold in (0, 1) for g in ("ddpm", "controlnet")]
    done = snakemake(tmp_path, "--cores", "2", "--configfile", "recipe.yaml", "--config", "scale=tiny", "--", *targets)
    assert done.returncode == 0, done.stderr[-5000:]
    run = tmp_path / RESULTS
    with np.load(run / "pool" / "elsewhere.npz") as pool:
        lesion = {str(s) for s, label in zip(pool["subject"], pool["label"]) if label.any()}
    assert lesion and all(s.startswith("elsewhere.phantom_") for s in lesion)
    base = json.loads((run / "models" / "synthesis" / "pool" / "diffusion.json").read_text())
    ddpm = json.loads((run / "models" / "synthesis" / "pool" / "ddpm.json").read_text())
    assert base["training_subjects"] == ddpm["training_subjects"] == sorted(lesion)
    folds = pd.read_csv(run / "cv_folds.tsv", sep="\t", dtype={"subject": str})
    for fold in (0, 1):
        models = run / "models" / "synthesis" / f"cv{fold}_train"
        assert not (models / "diffusion.pt").exists()  # the base is the pool's, locked
        controlnet = json.loads((models / "controlnet.json").read_text())
        fine_tuned = json.loads((models / "ddpm.json").read_text())
        assert controlnet["base_checkpoint"].endswith("models/synthesis/pool/diffusion.pt")
        assert fine_tuned["pretrained"].endswith("models/synthesis/pool/ddpm.pt")
        tested = set(subjects_in(folds, f"cv{fold}_test"))
        trained = set(subjects_in(folds, f"cv{fold}_train"))
        for sidecar in (controlnet, fine_tuned):
            seen = set(sidecar["training_subjects"])
            assert seen & lesion == lesion and not seen & tested
            assert seen - lesion and seen - lesion <= trained
