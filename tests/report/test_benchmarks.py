import numpy as np
import pytest

from radsynth.report.benchmarks import COLUMNS, benchmark_figure, benchmark_table, read_benchmark

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(path, *rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(
        f"{s}\t0:00:00\t{rss}\t1\t1\t1\t0\t0\t{load}\t{cpu}\n" for s, rss, load, cpu in rows))
    return path


def test_table_per_rule(tmp_path):
    files = {
        "train": [_bench(tmp_path / "train/a.tsv", (10.0, 500.0, 90.0, 9.0)),
                  _bench(tmp_path / "train/b.tsv", (30.0, 700.0, 50.0, 15.0))],
        # repeats (--benchmark-repeats): times averaged, memory peak kept; NA before the first sample
        "pack": [_bench(tmp_path / "pack.tsv", (1.0, "NA", "NA", "NA"), (3.0, 100.0, 20.0, 0.5))],
        "unused": [],
    }
    table = benchmark_table(files)
    assert list(table.columns) == COLUMNS and table["rule"].tolist() == ["train", "pack"]
    train = table.iloc[0]
    assert train["jobs"] == 2 and train["total_s"] == 40 and train["mean_s"] == 20 and train["max_s"] == 30
    assert train["max_rss_mb"] == 700 and train["mean_load"] == 70 and train["cpu_time_s"] == 24
    pack = table.iloc[1]
    assert pack["jobs"] == 1 and pack["total_s"] == 2 and pack["max_rss_mb"] == 100 and pack["mean_load"] == 20
    benchmark_figure(table, tmp_path / "benchmarks.png")
    assert (tmp_path / "benchmarks.png").read_bytes()[:4] == b"\x89PNG"


def test_short_job_without_measurements(tmp_path):
    record = read_benchmark(_bench(tmp_path / "quick.tsv", (0.2, "NA", "NA", "NA")))
    assert record["s"] == 0.2 and np.isnan(record["max_rss"]) and np.isnan(record["mean_load"])
    table = benchmark_table({"quick": [tmp_path / "quick.tsv"]})
    assert np.isnan(table.loc[0, "max_rss_mb"]) and np.isnan(table.loc[0, "cpu_time_s"])
    benchmark_figure(table, tmp_path / "quick.png")


def test_not_a_benchmark_file(tmp_path):
    (tmp_path / "x.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match="not a Snakemake benchmark"):
        read_benchmark(tmp_path / "x.tsv")
