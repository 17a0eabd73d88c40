"""The Snakemake workflow catalog's usage file parses and has the keys of its standardized usage."""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_catalog_usage_file():
    settings = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    usage = settings["usage"]
    assert set(usage) == {"mandatory-flags", "software-stack-deployment", "report"}
    flags = usage["mandatory-flags"]
    assert set(flags) == {"desc", "flags"} and isinstance(flags["desc"], str) and flags["desc"].strip()
    assert isinstance(flags["flags"], (str, list))  # the catalog takes a string or a list of flags
    deployment = usage["software-stack-deployment"]
    assert set(deployment) <= {"conda", "apptainer", "apptainer+conda", "singularity", "singularity+conda"}
    assert all(isinstance(value, bool) for value in deployment.values())
    assert deployment["conda"] is True and usage["report"] is True
    # what the catalog shows besides: conda environments exist and config/README.md documents the keys
    assert (REPO / "config" / "README.md").exists()
    assert all((REPO / "envs" / f"{env}.yaml").exists() for env in ("cpu", "gpu"))
