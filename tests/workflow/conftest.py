"""The tiny DAG, run once per session: the tiny-DAG tests and the Slurm test share it."""

import json
import time

import pytest

from tests.workflow.tinydag import make_picture_pairs, snakemake


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The whole workflow at the tiny scale (with an image-pair pool and the nnU-Net export);
    ``wall_seconds`` beside ``results/`` holds its wall-clock time, ``run.log`` its log."""
    workdir = tmp_path_factory.mktemp("tiny")
    make_picture_pairs(workdir / "pictures", 6)
    pool = {
        "name": "pictures", "kind": "image_pairs", "root": str(workdir / "pictures"), "channels": ["grey"],
        "mask_suffix": "", "label_map": {255: 1},
        "prompt": {"modality": ["ultrasound"], "organ": ["breast"], "pathology_pattern": "^(benign|malignant)"},
    }  # fmt: skip
    (workdir / "export.yaml").write_text(
        "export: {nnunet: true}\n"
        # the full RegGAN and EMIT-Diff comparisons, lighter in the default config
        "translation: {methods: [pix2pix, cyclegan, nc_r], modes: [pix2pix, cyclegan, nc, c_r, nc_r], unpaired: [pix2pix, cyclegan, nc_r]}\n"
        "augmentation: {methods: [none, rotate, deepstack, gan, ddpm, controlnet]}\n"
        f"diffusion: {{pretrain: {{iterations: 10, pool: [{{dataset: {json.dumps(pool)}, preprocess: {{foreground: all}}}}]}}}}\n"
    )
    start = time.monotonic()
    done = snakemake(workdir, "--cores", "2", "--configfile", str(workdir / "export.yaml"), "--config", "scale=tiny")
    (workdir / "wall_seconds").write_text(f"{time.monotonic() - start:.1f}\n")
    (workdir / "run.log").write_text(done.stderr)  # every job Snakemake ran, for the tests to count
    assert done.returncode == 0, done.stderr[-5000:]
    return workdir / "results" / "phantom"
