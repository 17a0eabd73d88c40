"""Config: scale presets under user keys, schema validation with clear errors."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.workflow.tinydag import make_picture_pairs

REPO = Path(__file__).resolve().parents[2]


def dry_run(tmp_path, *config):
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(tmp_path),
               "--dry-run", "--cores", "1", "--config", *config]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def tiny_dry_run(tmp_path, settings):
    """A tiny-scale dry run with ``settings`` (YAML text) as a config file."""
    path = tmp_path / "settings.yaml"
    path.write_text(settings)
    return dry_run(tmp_path, "scale=tiny", "--configfile", str(path))


def test_unknown_scale_is_refused(tmp_path):
    done = dry_run(tmp_path, "scale=huge")
    assert done.returncode != 0 and "huge" in done.stdout + done.stderr


def test_out_of_range_value_is_refused(tmp_path):
    # An integer, as the schema wants, below its minimum of 0: refused for its range, by name.
    done = dry_run(tmp_path, "scale=tiny", "resume_every=-1")
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "-1 is less than the minimum of 0" in output and "['resume_every']" in output


def test_user_key_wins_over_the_scale_preset(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("dataset: {subjects: 5}\n")
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(tmp_path),
               "--cores", "1", "--config", "scale=tiny", "--configfile", str(mine), "--", "results/phantom/splits.tsv"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    splits = (tmp_path / "results" / "phantom" / "splits.tsv").read_text().splitlines()
    assert len(splits) == 1 + 5  # the user's 5 subjects, not the tiny preset's 8


def test_pool_label_map_with_integer_keys_from_yaml_is_accepted(tmp_path):
    # YAML reads `255: 1` with an integer key, which JSON Schema cannot match against its
    # key pattern: the pool's label_map needs the same conversion to strings as the task's.
    make_picture_pairs(tmp_path / "pictures", 2)
    pool = tmp_path / "pool.yaml"
    pool.write_text(
        "diffusion:\n  pretrain:\n    pool:\n      - dataset:\n"
        f"          {{name: pictures, kind: image_pairs, root: '{tmp_path / 'pictures'}', channels: [grey],\n"
        "           mask_suffix: '', label_map: {255: 1}, prompt: {modality: [ultrasound], organ: [breast]}}\n"
        "        preprocess: {fit: resize, foreground: all}\n"
    )
    assert yaml.safe_load(pool.read_text())["diffusion"]["pretrain"]["pool"][0]["dataset"]["label_map"] == {255: 1}
    done = dry_run(tmp_path, "scale=tiny", "--configfile", str(pool))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rule pool_slices:" in done.stdout and "name=pictures" in done.stdout


def test_a_phantom_pool_with_the_runs_seed_is_refused(tmp_path):
    # It would render the task's own subjects, every fold's test subjects among them.
    entry = "{dataset: {name: other, kind: phantom, subjects: 3, shape: [16, 16, 8]}, seed: SEED}"
    for seed, refused in (("null", True), ("0", True), ("5", False)):
        done = tiny_dry_run(tmp_path, f"seed: 0\ndiffusion:\n  pretrain:\n    pool: [{entry.replace('SEED', seed)}]\n")
        output = done.stdout + done.stderr
        assert ("a phantom pool needs a seed of its own (not the run's seed 0" in output) == refused, output
        assert (done.returncode == 0) != refused


def test_emitdiff_transfer_without_a_pool_is_refused(tmp_path):
    # A locked base or a pool ControlNet (EMIT-Diff's transfer) needs a pool to pretrain them on.
    done = tiny_dry_run(tmp_path, "diffusion: {finetune_base: false}\n")
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "need a pool to pretrain on: set diffusion.pretrain.pool" in output


def test_a_pretrained_joint_ddpm_needs_a_pool_and_starts_every_fold_from_it(tmp_path):
    done = tiny_dry_run(tmp_path, "diffusion: {pretrain: {ddpm: {iterations: 5}}}\n")
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "diffusion.pretrain.ddpm.iterations needs a pool to pretrain on" in output
    pool = "[{dataset: {name: other, kind: phantom, subjects: 3, shape: [16, 16, 8]}, seed: 5}]"
    done = tiny_dry_run(tmp_path, f"diffusion: {{pretrain: {{pool: {pool}, ddpm: {{iterations: 5}}}}}}\n")
    assert done.returncode == 0, done.stdout + done.stderr
    folds = re.findall(r"rule train_ddpm:\n    input: (.*)", done.stdout)
    assert folds and all("models/synthesis/pool/ddpm.pt" in inputs for inputs in folds), folds
    assert done.stdout.count("rule pretrain_ddpm:") == 1


def test_classifier_free_anomaly_detection_without_label_dropout_is_refused(tmp_path):
    # The official DDPM (label_dropout 0) has no unconditional prediction to guide with.
    done = tiny_dry_run(tmp_path, "anomaly: {ddpm: {label_dropout: 0.0}}\n")
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "set anomaly.ddpm.label_dropout above 0" in output
    done = tiny_dry_run(tmp_path, "anomaly: {methods: [guided, unguided], ddpm: {label_dropout: 0.0}}\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rule train_anomaly_classifier:" in done.stdout and "rule train_anomaly_autoencoder:" not in done.stdout


def test_a_run_of_the_mode_table_only_is_trained_once_and_drawn_in_the_translation_figure(tmp_path):
    # The quick scale's translation: Pix2Pix at every level, NC+R only in the mode table (level 5).
    done = tiny_dry_run(tmp_path, "translation: {methods: [pix2pix], modes: [pix2pix, nc_r]}\n")
    assert done.returncode == 0, done.stdout + done.stderr
    runs = re.findall(r"rule train_translation:\n(?:    .*\n)*?    wildcards: (.*)", done.stdout)
    assert sorted(runs) == ["method=nc_r, setting=level5", "method=pix2pix, setting=level0", "method=pix2pix, setting=level5"]
    figure = re.search(r"rule translation_figure:\n    input: (.*)", done.stdout).group(1)
    assert figure.split(", ") == ["results/phantom/examples/translation/pix2pix_level5.npz",
                                  "results/phantom/examples/translation/nc_r_level5.npz"]
