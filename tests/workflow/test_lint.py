"""Workflow conventions: snakemake --lint is clean, the rules are snakefmt-formatted and every
rule writes its own benchmark, which the benchmark table reads."""

import re
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
    files = [str(REPO / "workflow" / "Snakefile"), *map(str, sorted((REPO / "workflow" / "rules").glob("*.smk")))]
    done = subprocess.run(["snakefmt", "--check", *files], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def rule_blocks():
    """(name, text) of every rule, checkpoint and ``use rule ... as NAME with:`` of the workflow."""
    for path in [REPO / "workflow" / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]:
        text = path.read_text()
        starts = list(re.finditer(r"^(?:rule|checkpoint) (\w+):|^use rule \w+ as (\w+) with:", text, re.M))
        for start, end in zip(starts, [*starts[1:], None]):
            yield start.group(1) or start.group(2), text[start.start() : end.start() if end else len(text)]


def test_every_rule_has_its_own_benchmark():
    seen = {}
    for name, block in rule_blocks():
        found = re.search(r'^    benchmark:\n\s+bench_path\(\s*"(\w+)"(?:,\s*"([^"]*)")?\s*\)', block, re.M)
        assert found, f"rule {name}: no benchmark: bench_path(...) (a `use rule` must set its own)"
        key = (found.group(1), found.group(2) or "")
        assert key not in seen, f"rules {seen[key]} and {name} write the same benchmark {key}"
        seen[key] = name


def test_benchmark_table_lists_every_rule():
    """job_patterns() in common.smk names each rule whose jobs the default target can run: all
    but the aggregating rules and benchmark_table itself (which reads the others' files)."""
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    body = common.split("def job_patterns():", 1)[1].split("\ndef ", 1)[0]
    listed = set(re.findall(r'^        "(\w+)": ', body, re.M))
    rules = {name for name, _ in rule_blocks()}
    assert listed == rules - {"all", "prepare", "benchmark_table"}
