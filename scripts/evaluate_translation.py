"""Rule evaluate_translation: MAE, PSNR, SSIM on the aligned test slices (+ EPE of R)."""

import pandas as pd

from radsynth.io import load_arrays, save_arrays, write_csv
from radsynth.logs import log_to
from radsynth.pack import without_subjects
from radsynth.provenance import provenance_sidecars
from radsynth.split import excluded_subjects
from radsynth.training.loop import job_device, set_threads
from radsynth.translation.evaluate import evaluate_translation
from radsynth.translation.translator import load_translator

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
wildcards = snakemake.wildcards

splits = pd.read_csv(snakemake.input.splits, sep="\t", keep_default_na=False)
excluded = excluded_subjects(splits, "translation")  # a channel it reads is a copy of another
translator = load_translator(snakemake.input.model, job_device(snakemake.params.device))
metrics, examples = evaluate_translation(
    translator,
    without_subjects(load_arrays(snakemake.input.test), excluded),
    load_arrays(snakemake.input.misaligned) if snakemake.input.misaligned else None,
    snakemake.params.source,
    snakemake.params.target,
    method=wildcards.method,
    setting=wildcards.setting,
)
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    write_csv(snakemake.output.metrics, metrics)
    save_arrays(snakemake.output.examples, **examples)
    log.info("\n%s", metrics.groupby("metric")["value"].mean().to_string())
