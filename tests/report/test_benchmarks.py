import numpy as np
import pytest
from matplotlib.colors import to_rgb
from scipy import ndimage

from radsynth.report.benchmarks import COLUMNS, benchmark_figure, benchmark_table, read_benchmark
from tests.report.drawn import panels, saved_figure

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(path, *rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(
        f"{s}\t0:00:00\t{rss}\t1\t1\t1\t0\t0\t{load}\t{cpu}\n" for s, rss, load, cpu in rows))
    return path


def bar_lengths(panel, colour):
    """Length in pixels of each bar of ``colour``, top to bottom: for each band of rows holding
    the colour, the last column where most of the band's rows have it (grid lines cut the bars,
    a legend patch covers only a few rows)."""
    hits = np.abs(panel - np.array(to_rgb(colour))).max(-1) < 0.03
    bands, count = ndimage.label(hits.any(1))
    lengths = []
    for band in range(1, count + 1):
        profile = hits[bands == band].mean(0)
        filled = np.nonzero(profile > 0.5)[0]
        lengths.append(filled.max() + 1 + 2 if len(filled) else 0)  # panels() trims 2 pixels
    return lengths


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
    figure = saved_figure(benchmark_figure, table, tmp_path / "benchmarks.png")
    time_panel, memory_panel = panels(tmp_path / "benchmarks.png", figure)
    # Bars from 0, one per rule in the table's order: total time 40 and 2 s, peak RSS 700 and
    # 100 MB; the mean per job (20 s) ticked halfway along train's time bar.
    train, pack = bar_lengths(time_panel, "#4878a8")
    assert train / pack == pytest.approx(40 / 2, rel=0.1)
    train_rss, pack_rss = bar_lengths(memory_panel, "#58a060")
    assert train_rss / pack_rss == pytest.approx(700 / 100, rel=0.05)
    orange = time_panel[..., 0] - time_panel[..., 2] > 0.4  # the thin tick, anti-aliased
    _, tick_cols = np.nonzero(orange[: time_panel.shape[0] // 2])  # train's band
    assert len(tick_cols) > 5 and (tick_cols + 2).mean() == pytest.approx(train / 2, abs=3)


def test_short_job_without_measurements(tmp_path):
    measured = read_benchmark(_bench(tmp_path / "quick.tsv", (0.2, "NA", "NA", "NA")))
    assert measured["s"] == 0.2 and np.isnan(measured["max_rss"]) and np.isnan(measured["mean_load"])
    table = benchmark_table({"quick": [tmp_path / "quick.tsv"]})
    assert np.isnan(table.loc[0, "max_rss_mb"]) and np.isnan(table.loc[0, "cpu_time_s"])
    figure = saved_figure(benchmark_figure, table, tmp_path / "quick.png")
    time_panel, memory_panel = panels(tmp_path / "quick.png", figure)
    assert bar_lengths(time_panel, "#4878a8")[0] > 100  # the one rule's time fills the axis
    assert bar_lengths(memory_panel, "#58a060") == []  # no memory measured: no bar


def test_not_a_benchmark_file(tmp_path):
    (tmp_path / "x.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match="not a Snakemake benchmark"):
        read_benchmark(tmp_path / "x.tsv")


def test_a_warm_jobs_memory_and_cpu_come_from_the_workers_record(tmp_path):
    # Snakemake measured the waiting client (45 MB, no CPU); the worker's child did the work.
    bench = _bench(tmp_path / "b" / "job.tsv", (10.0, 45.0, 0.5, 0.05))
    usage = tmp_path / "l" / "job.usage.json"
    usage.parent.mkdir()
    usage.write_text('{"max_rss": 612.5, "cpu_time": 7.5, "s": 9.8}')
    record = read_benchmark(bench, usage)
    assert record["s"] == 10.0  # the wall-clock time stays Snakemake's
    assert record["max_rss"] == 612.5 and record["cpu_time"] == 7.5
    assert record["mean_load"] == pytest.approx(76.530612, abs=1e-5)  # 100 * 7.5 / 9.8
    # A job that ran afresh has no record: Snakemake's numbers, in the table too.
    table = benchmark_table({"r": [bench, bench]}, {"r": [usage, tmp_path / "none.json"]})
    assert table.loc[0, "max_rss_mb"] == 612.5 and table.loc[0, "cpu_time_s"] == pytest.approx(7.55)
