"""The job environments (envs/*.yaml, used with --sdm conda) stay in step with pyproject.toml."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
ENVS = ["cpu", "gpu"]
# PyPI name (lower case) -> conda-forge name, where they differ.
CONDA_NAME = {"torch": "pytorch", "simpleitk": "simpleitk", "matplotlib": "matplotlib-base"}
# Needed by the process that runs the workflow, not inside a job: Snakemake itself (a job's
# script gets the snakemake object from the running Snakemake's own installation) and the
# schema validation of the config (snakemake.utils.validate, in the driver).
DRIVER_ONLY = {"snakemake", "jsonschema"}


def pyproject_requirements():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = {}
    for line in project["dependencies"]:
        requirement = Requirement(line)
        requirements[requirement.name.lower()] = requirement
    return requirements, project["requires-python"]


def lower_bound(specifier):
    """The version a specifier set starts from (>=, == or ~=), None when it has none."""
    bounds = [Version(s.version) for s in specifier if s.operator in (">=", "==", "~=")]
    return max(bounds) if bounds else None


def conda_dependencies(env):
    """conda name -> lower bound of its version (None when unpinned), from envs/<env>.yaml."""
    spec = yaml.safe_load((REPO / "envs" / f"{env}.yaml").read_text())
    assert "conda-forge" in spec["channels"]
    dependencies = {}
    for entry in spec["dependencies"]:
        assert isinstance(entry, str), f"{env}.yaml: a pip section is not expected ({entry})"
        # name, then an optional version (>=X or =X, conda's exact-or-prefix match), then an
        # optional =build string (pytorch>=2.4=*cpu*).
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(?:(>=|==|=)\s*([0-9][^=\s,]*))?(?:[=\s]\S+)?", entry)
        assert match, f"{env}.yaml: cannot read {entry!r}"
        name, _, version = match.groups()
        assert name not in dependencies, f"{env}.yaml lists {name} twice"
        dependencies[name] = Version(version) if version else None
    return dependencies


@pytest.mark.parametrize("env", ENVS)
def test_env_matches_pyproject(env):
    requirements, requires_python = pyproject_requirements()
    conda = conda_dependencies(env)
    expected = {CONDA_NAME.get(name, name): req for name, req in requirements.items() if name not in DRIVER_ONLY}
    missing = sorted(set(expected) - set(conda) - {"python"})
    extra = sorted(set(conda) - set(expected) - {"python"})
    assert not missing, f"envs/{env}.yaml lacks {missing} (pyproject.toml dependencies)"
    assert not extra, f"envs/{env}.yaml has {extra}, which pyproject.toml does not list"
    for name, requirement in expected.items():
        wanted = lower_bound(requirement.specifier)
        assert wanted is not None, f"pyproject.toml: {requirement} has no lower bound"
        assert conda[name] is not None and conda[name] >= wanted, (
            f"envs/{env}.yaml: {name} from {conda[name]}, pyproject.toml needs {requirement}"
        )
    python = Requirement(f"python{requires_python}")
    assert conda.get("python") is not None and python.specifier.contains(conda["python"]), (
        f"envs/{env}.yaml: python {conda.get('python')} outside requires-python {requires_python}"
    )
    assert not DRIVER_ONLY & set(conda), f"envs/{env}.yaml: {DRIVER_ONLY & set(conda)} belong to the driver"


def test_cpu_and_gpu_envs_list_the_same_packages():
    assert conda_dependencies("cpu") == conda_dependencies("gpu")
