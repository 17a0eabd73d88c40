"""Rule generate_frames: each method's frames between ED and ES of the test cines, scored."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.io import load_arrays, load_checkpoint, save_arrays, write_csv
from radsynth.logs import log_to
from radsynth.provenance import check_pretrained, provenance_sidecars
from radsynth.temporal.data import unpack
from radsynth.temporal.evaluate import generate_and_score, load_model
from radsynth.training.loop import job_device, set_threads

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
params = snakemake.params
device = job_device(params.device)

cines = unpack(load_arrays(snakemake.input.test))
models = {}
for method in params.methods:
    if method != "linear":
        check_pretrained(snakemake.input[method], load_checkpoint(snakemake.input[method])[1],
                         {c.name.split("_z")[0] for c in cines})
        models[method] = load_model(snakemake.input[method], method, device)
metrics, examples = generate_and_score(cines, models, params.methods, device)
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    write_csv(snakemake.output.metrics, metrics)
    save_arrays(snakemake.output.examples, **examples)
log.info("generated the frames of %d test cines", len(cines))
