"""Rule reconstruct: every method at every acceleration on the test split's slices, scored."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.io import save_arrays, write_csv
from radsynth.logs import log_to
from radsynth.provenance import check_pretrained, provenance_sidecars
from radsynth.recon.data import split_slices
from radsynth.recon.evaluate import load_model, reconstruct_test
from radsynth.training.loop import job_device, set_threads

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
params = snakemake.params
device = job_device(params.device)

slices = split_slices(snakemake.input.test, channel=params.channels[0], fastmri=params.fastmri,
                      min_foreground=params.min_foreground, limit=params.test_slices)
models = {}
for method in params.methods:
    if method != "zero_filled":
        models[method], sidecar = load_model(snakemake.input[method], method, device)
        check_pretrained(snakemake.input[method], sidecar, set(slices.subject))
metrics, examples = reconstruct_test(slices, params.methods, models, accelerations=params.accelerations,
                                     settings=params.settings, batch_size=params.batch_size, seed=params.seed,
                                     device=device)
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    write_csv(snakemake.output.metrics, metrics)
    save_arrays(snakemake.output.examples, **examples)
log.info("reconstructed %d test slices x %d accelerations", len(slices), len(params.accelerations))
