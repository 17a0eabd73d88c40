"""Leakage guards through the workflow: pretrained weights that saw a subject some fold tests
on are refused by the fine-tuning job."""

import json

import pandas as pd
import pytest
import torch

from tests.workflow.tinydag import snakemake

RESULTS = "results/phantom"
MODEL = f"{RESULTS}/models/synthesis/train/diffusion.pt"


@pytest.mark.integration
def test_a_pretrained_checkpoint_that_saw_a_test_subject_is_refused(tmp_path):
    done = snakemake(tmp_path, "--cores", "2", "--config", "scale=tiny", "--", f"{RESULTS}/splits.tsv")
    assert done.returncode == 0, done.stderr[-3000:]
    splits = pd.read_csv(tmp_path / RESULTS / "splits.tsv", sep="\t")
    # One subject of the test split, and one that trains in the main split but is held out by
    # a fold of the augmentation comparison (tiny: 2 folds).
    tested = splits.loc[splits["split"] == "test", "subject"].iloc[0]
    fold_tested = splits.loc[splits["split"] == "train", "subject"].iloc[0]
    torch.save({}, tmp_path / "elsewhere.pt")  # refused before its weights are used
    (tmp_path / "elsewhere.json").write_text(json.dumps({"architecture": {}, "training_subjects": [fold_tested, "other_9", tested]}))

    done = snakemake(
        tmp_path, "--cores", "2", "--config", "scale=tiny", "diffusion={pretrained: elsewhere.pt}", "--", MODEL
    )
    assert done.returncode != 0
    log = (tmp_path / RESULTS / "logs" / "train_diffusion" / "train.log").read_text()
    overlap = ", ".join(sorted([tested, fold_tested]))
    assert f"elsewhere.pt: pretrained on 2 subject(s) that a fold tests on ({overlap})" in log
    assert not (tmp_path / MODEL).exists()
