"""Rule detect_anomalies: the val sweep chooses L and the guidance scale of each method; the
test split's healthy counterfactuals are scored per case against its lesion masks."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.anomaly.detect import choose_settings, counterfactuals
from radsynth.anomaly.evaluate import case_names, examples, load_detector, score_test, sweep_grid
from radsynth.io import load_arrays, save_arrays, write_csv, write_json
from radsynth.logs import log_to
from radsynth.pack import select_channels
from radsynth.provenance import provenance_sidecars
from radsynth.training.loop import job_device, set_threads

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
settings, params = snakemake.params.settings, snakemake.params
methods = settings["methods"]

models = {name: snakemake.input[name] for name in ("ddpm", "classifier", "autoencoder") if name in snakemake.input.keys()}
detector = load_detector(models, settings["ddim_steps"], job_device(params.device), settings["batch_size"])
test = load_arrays(snakemake.input.test)

grid = sweep_grid(methods, settings["noise_levels"], settings["scales"], settings["weights"])
val_images = val_masks = None  # a split without val subjects has no val.npz
if snakemake.input.get("val"):
    val = load_arrays(snakemake.input.val)
    val_images, val_masks = select_channels(val, params.channels), val["label"] > 0
table, chosen, reason = choose_settings(detector, val_images, val_masks, grid)
if reason != "val sweep":
    log.warning("anomaly: the val split has no lesion slice; L and the scales are the first of their lists")
chosen.update({"autoencoder": {}} if "autoencoder" in methods else {})
log.info("chosen (%s): %s", reason, chosen)

images, masks = select_channels(test, params.channels), test["label"] > 0
drawn = counterfactuals(detector, images, {m: chosen[m] for m in methods})
cases = case_names(test)
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    write_csv(snakemake.output.metrics, score_test(images, masks, cases, drawn, chosen))
    write_csv(snakemake.output.sweep, table)
    write_json(snakemake.output.chosen, {"metric": "auroc", "by": reason, "chosen": chosen})
    save_arrays(snakemake.output.examples, **examples(images, masks, cases, drawn))
