"""Rule sdf_figure: labels and DTC signed distance maps of the most labelled training subjects."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

import numpy as np

from radsynth.io import read_nifti
from radsynth.logs import log_to
from radsynth.segmentation.figures import sdf_figure

log = log_to(snakemake.log[0])
labels = [read_nifti(path, np.uint8)[0] for path in snakemake.params.labels]
# The subjects with the most labelled voxels (ties: split order), unlabelled ones only when
# no subject has a label; only their maps are read.
counts = [int((label > 0).sum()) for label in labels]
ranked = np.argsort([-c for c in counts], kind="stable")[: snakemake.params.rows]
shown = sorted(i for i in ranked if counts[i] > 0) or sorted(ranked[:1])
names = [snakemake.params.subjects[i] for i in shown]
maps = [read_nifti(snakemake.params.sdf[i])[0] for i in shown]
sdf_figure([labels[i] for i in shown], maps, names, snakemake.params.classes, snakemake.output[0])
log.info("SDF figure of %s", ", ".join(names))
