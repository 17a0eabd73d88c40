"""Rule prepare_cines: the temporal stage's cines (phantom or ACDC), split by subject, packed."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

import pandas as pd

from radsynth.io import save_arrays, write_csv
from radsynth.logs import log_to
from radsynth.provenance import provenance_sidecars
from radsynth.temporal.data import acdc_cines, as_slices, pack, phantom_cines, split_subjects

log = log_to(snakemake.log[0])
params, source = snakemake.params, snakemake.params.source

if source["kind"] == "phantom":
    cines = phantom_cines(params.seed, source["subjects"], size=source["size"], frames=source["frames"],
                          depth=source["depth"], noise=source["noise"])
else:
    cines = acdc_cines(source["root"], source["size"])
split = split_subjects([c.name for c in cines], params.test_fraction, params.seed)
with provenance_sidecars(snakemake.output, snakemake.config, []):
    for name in ("train", "test"):
        chosen = [s for c in cines if c.name in split[name] for s in as_slices(c, params.spatial_dims)]
        save_arrays(snakemake.output[name], **pack(chosen))
    write_csv(snakemake.output.splits, pd.DataFrame(
        [(subject, name) for name, subjects in split.items() for subject in subjects], columns=["subject", "split"]), sep="\t")
log.info("cines: %d train, %d test subjects", len(split["train"]), len(split["test"]))
