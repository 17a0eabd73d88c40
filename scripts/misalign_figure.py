"""Rule misalign_figure: one test subject's stored misaligned pair at every level."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from pathlib import Path

from radsynth.io import read_nifti
from radsynth.logs import log_to
from radsynth.translation.figures import misalignment_figure

log = log_to(snakemake.log[0])
pairs = {
    level: {name: read_nifti(Path(folder) / f"{name}.nii.gz")[0] for name in ("source", "target", "field")}
    for level, folder in zip(snakemake.params.levels, snakemake.params.pair_dirs)
}
misalignment_figure(pairs, snakemake.output[0], snakemake.params.subject, tuple(snakemake.params.names))
log.info("misalignment figure of %s at levels %s", snakemake.params.subject, list(pairs))
