"""Part of the tiny DAG through Slurm with profiles/slurm: every kind of job (batch jobs of the
data stages, a GPU training rule of each family, evaluation, synthesis) gives the same results
as the local run, and the GPU rules ask Slurm for a GPU.

Needs a Slurm that takes jobs here and snakemake-executor-plugin-slurm; skips, saying why,
otherwise, or when RADSYNTH_SLURM=0. It never starts system daemons: CI starts the one-node
Slurm of tools/slurm/local_slurm.sh before ``make test`` and says so with RADSYNTH_SLURM_CI=1
(.ci/run), so a user's ``make test`` installs and starts nothing. The local run is the ``tiny_run`` fixture of the tiny-DAG
tests (session-scoped, so the DAG runs locally once for both).
"""

import filecmp
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "tools" / "slurm" / "local_slurm.sh"
# The data stages write the same bytes on every run (tests/test_determinism.py).
DATA_STAGES = ["raw", "records", "preprocessed", "splits.tsv", "misaligned", "sdf", "sdf3d", "packed", "pool"]
# One job of every kind, not the whole DAG (every Slurm job starts a Snakemake of its own):
# the data stages in batches, a GPU training rule of each family (scoring its model), a
# generator and its synthetic pairs; all of them outputs of the local run too.
TARGETS = [
    "results/phantom/data/subjects.tsv",
    "results/phantom/metrics/translation/nc_r_level5.csv",
    "results/phantom/metrics/segmentation/dtc-none-25-s0.csv",
    "results/phantom/synthetic/cv0_train/gan.npz",
]
# Scaled to the test node (its 2 CPUs and few GB); everything else as profiles/slurm has it.
NODE_LIMITS = {"mem_mb": 2000, "cpus_per_task": 1}
# Only for the one-node test Slurm: no accounting database, quick status checks.
LOCAL_CLUSTER = {
    "slurm-no-account": True,
    "slurm-status-command": "squeue",
    "slurm-init-seconds-before-status-checks": 2,
    "slurm-keep-successful-logs": True,
    "retries": 0,
}


def slurm_unavailable() -> str | None:
    """Why the test cannot run here, or None. It never starts system daemons itself: CI does
    (.ci/run runs tools/slurm/local_slurm.sh start as root and sets RADSYNTH_SLURM_CI=1)."""
    if os.environ.get("RADSYNTH_SLURM") == "0":
        return "RADSYNTH_SLURM=0"
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[test]')"
    status = subprocess.run(["bash", str(SETUP), "status"], capture_output=True, text=True, timeout=60)
    if status.returncode == 0:
        return None
    if os.environ.get("RADSYNTH_SLURM_CI") == "1":
        return f"CI asked for Slurm but none answers ({SETUP.relative_to(REPO)} status: {status.stderr[-500:]})"
    return f"no Slurm here (one-node test Slurm, as root: bash {SETUP.relative_to(REPO)} start)"


def slurm_profile(folder: Path) -> Path:
    """profiles/slurm with its memory and CPU requests capped to the test node."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())

    def cap(resources: dict) -> dict:
        return {k: min(v, NODE_LIMITS[k]) if k in NODE_LIMITS else v for k, v in resources.items()}

    profile["default-resources"] = cap(profile["default-resources"])
    profile["set-resources"] = {rule: cap(res) for rule, res in profile["set-resources"].items()}
    profile.update(LOCAL_CLUSTER)
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder


def job_resources(log: str) -> dict[str, str]:
    """Rule -> the `resources:` line Snakemake printed for its jobs."""
    found, rule = {}, None
    for line in log.splitlines():
        if heading := re.match(r"\s*(?:local)?(?:rule|checkpoint) (\w+):\s*$", line):
            rule = heading.group(1)
        elif (resources := re.match(r"\s+resources: (.*)$", line)) and rule:
            found[rule] = resources.group(1)
    return found


def sbatch_calls(log: str) -> dict[str, list[str]]:
    """Rule -> the sbatch options of each of its submissions (the part before --wrap)."""
    calls: dict[str, list[str]] = {}
    for line in re.findall(r"sbatch call: (sbatch .*)", log):
        options = line.split(" --wrap=")[0]
        rule = re.search(r"--comment '?rule_(.+?)(?:_wildcards_\S*)?'?(?:\s|$)", options).group(1)
        calls.setdefault(rule, []).append(options)
    return calls


def slurm_records(run_id: str) -> list[dict[str, str]]:
    """What Slurm recorded for this run's jobs (kept MinJobAge seconds after they end)."""
    shown = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True, timeout=60)
    records = []
    for line in shown.stdout.splitlines():
        fields = dict(re.findall(r"(\w[\w/:]*)=(\S*)", line))
        if fields.get("JobName") == run_id:
            records.append(fields)
    return records


def same_files(first: Path, second: Path, names: list[str]) -> list[str]:
    """Relative paths (under the given names) of ``second``'s files that differ from or are
    missing in ``first`` (a partial run is compared with the whole one)."""
    differ = []
    for name in names:
        b = second / name
        files = sorted(p.relative_to(second).as_posix() for p in ([b] if b.is_file() else b.rglob("*")) if p.is_file())
        for rel in files:
            if not ((first / rel).is_file() and filecmp.cmp(first / rel, second / rel, shallow=False)):
                differ.append(rel)
    return differ


@pytest.mark.integration
def test_tiny_dag_on_slurm_matches_the_local_run(request, tmp_path):
    reason = slurm_unavailable()
    if reason:
        pytest.skip(reason)
    try:  # <local workdir>/results/phantom; requested after the skip check, not as an argument
        local = request.getfixturevalue("tiny_run")
    except pytest.FixtureLookupError:
        pytest.fail("needs the session-scoped tiny_run fixture (tests/workflow/conftest.py)")
    workdir = tmp_path / "slurm"
    workdir.mkdir()
    profile = slurm_profile(tmp_path / "profile")
    command = [
        sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir),
        "--profile", str(profile), "--configfile", str(local.parents[1] / "export.yaml"),
        "--config", "scale=tiny", "--verbose", "--", *TARGETS,
    ]  # fmt: skip
    log_path = tmp_path / "snakemake.log"
    start = time.monotonic()
    with log_path.open("w") as log_file:
        done = subprocess.run(command, stdout=log_file, stderr=subprocess.STDOUT, cwd=workdir, timeout=2400)
    slurm_wall = time.monotonic() - start
    log = log_path.read_text()
    assert done.returncode == 0, log[-6000:]
    wall_file = local.parents[1] / "wall_seconds"
    local_wall = float(wall_file.read_text()) if wall_file.exists() else float("nan")
    print(f"\ntiny DAG wall time: Slurm {slurm_wall:.0f} s, local {local_wall:.0f} s (--cores 2)")

    # The same results: data stages byte for byte, tables and per-case metrics (seeded, one
    # CPU thread per job) equal.
    slurm = workdir / "results" / "phantom"
    assert all((slurm / stage).exists() for stage in ("raw", "records", "preprocessed", "splits.tsv", "packed"))
    differ = same_files(local, slurm, DATA_STAGES)
    assert not differ, f"data-stage files differ from the local run: {differ[:10]}"
    metrics = sorted(p.relative_to(slurm / "metrics").as_posix() for p in (slurm / "metrics").rglob("*.csv"))
    assert metrics == ["segmentation/dtc-none-25-s0.csv", "translation/nc_r_level5.csv"]
    differ_metrics = same_files(local / "metrics", slurm / "metrics", metrics)
    for name in differ_metrics:
        pd.testing.assert_frame_equal(pd.read_csv(slurm / "metrics" / name), pd.read_csv(local / "metrics" / name))
    assert not differ_metrics, f"per-case metrics {differ_metrics} differ"
    with np.load(local / "synthetic/cv0_train/gan.npz") as a, np.load(slurm / "synthetic/cv0_train/gan.npz") as b:
        assert all(np.array_equal(a[key], b[key]) for key in a.files)

    # Every job went through sbatch; the GPU rules (resources gpu=1) asked for a GPU, the others not.
    resources = job_resources(log)
    calls = sbatch_calls(log)
    gpu_rules = {rule for rule, line in resources.items() if re.search(r"\bgpu=1\b", line)}
    assert {"train_translation", "train_segmentation", "train_gan", "synthesize"} <= gpu_rules
    assert {"phantom", "preprocess", "sdf", "misalign", "pack"} <= set(calls) - gpu_rules
    assert set(calls) == set(resources), "every job is a Slurm job"
    profile_runtime = yaml.safe_load((profile / "config.yaml").read_text())["set-resources"]
    for rule, options in calls.items():
        for option in options:
            if rule in gpu_rules:
                assert "--gpus=1" in option and "--gres" not in option, option
            else:
                assert "--gpus" not in option and "--gres" not in option, option
            if rule in profile_runtime:
                assert f" -t {profile_runtime[rule]['runtime']}" in option, option
    # ...and Slurm recorded it so (TresPerJob), for as many of the run's jobs as it still keeps.
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    records = slurm_records(run_id)
    submitted = sum(len(options) for options in calls.values())
    assert records and len(records) <= submitted
    for record in records:
        rule = re.match(r"rule_(.+?)(?:_wildcards_.*)?$", record["Comment"]).group(1)
        assert record["JobState"] == "COMPLETED", record
        assert ("gres:gpu:1" in record.get("TresPerJob", "")) == (rule in gpu_rules), record
    print(f"{submitted} Slurm jobs, {sum(len(calls[r]) for r in gpu_rules if r in calls)} with --gpus=1; "
          f"Slurm still shows {len(records)}")  # fmt: skip
