"""Workflow conventions: snakemake --lint is clean and the rules are snakefmt-formatted."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_snakemake_lint_is_clean():
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--config", "scale=tiny"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Congratulations, your workflow is in a good condition" in output, output


@pytest.mark.skipif(shutil.which("snakefmt") is None, reason="snakefmt not installed")
def test_rules_are_snakefmt_formatted():
    files = [str(REPO / "Snakefile"), *map(str, sorted((REPO / "workflow" / "rules").glob("*.smk")))]
    done = subprocess.run(["snakefmt", "--check", *files], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
