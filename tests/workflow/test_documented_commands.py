"""Every snakemake command the README and config/README.md show runs as written (dry run):
a user copies them verbatim. (`--configfile` takes several values, so a target written after
it was read as a config file: a target goes first, ``snakemake prepare --configfile X``.)"""

import os
import re
import shlex
import subprocess
import sys

import pytest

from tests.workflow.tinydag import REPO

DOCS = ("README.md", "config/README.md")


def documented_commands() -> list[str]:
    """Snakemake command lines of the docs: lines of code blocks and inline code spans."""
    commands = []
    for doc in DOCS:
        text = (REPO / doc).read_text()
        for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
            commands += [line.split(" #")[0].strip() for line in block.splitlines()]
        commands += re.findall(r"(?<!`)`([^`\n]+)`(?!`)", text)
    found = [c for c in commands if re.match(r"^([A-Z_]+=\S+ )*snakemake( |$)", c)]
    return sorted(set(found))


def test_the_docs_show_commands():
    commands = documented_commands()
    assert any(" prepare" in c for c in commands) and any("--profile profiles/slurm" in c for c in commands)


@pytest.mark.integration
@pytest.mark.parametrize("command", documented_commands())
def test_documented_command_runs_as_written(command):
    words = shlex.split(command)
    env = dict(word.split("=", 1) for word in words[: words.index("snakemake")])
    words = words[words.index("snakemake") + 1 :]
    if "--report" in words:
        pytest.skip("builds the report of a finished run")
    for flag in ("--configfile", "--profile"):
        if flag in words and not (REPO / words[words.index(flag) + 1]).exists():
            pytest.skip(f"{words[words.index(flag) + 1]} is the user's own file")
    done = subprocess.run([sys.executable, "-m", "snakemake", *words, "-n"], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env={**os.environ, **env})
    if "is absent" in done.stderr or "not found" in done.stderr and "root" in done.stderr:
        pytest.skip(done.stderr.strip().splitlines()[-1])
    assert done.returncode == 0, done.stderr[-3000:]
