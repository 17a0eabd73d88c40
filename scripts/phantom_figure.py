"""Rule phantom_figure: a slice of the first phantom subjects, every channel plus label and tissue."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from pathlib import Path

import numpy as np

from radsynth.io import read_nifti
from radsynth.logs import log_to
from radsynth.report.figures import phantom_figure

log = log_to(snakemake.log[0])
channels = list(snakemake.params.channels)
cases, names = [], []
for folder in map(Path, snakemake.params.subject_dirs):
    case = {name: read_nifti(folder / f"{name}.nii.gz")[0] for name in channels}
    case["label"] = read_nifti(folder / "label.nii.gz", np.uint8)[0]
    case["tissue"] = read_nifti(folder / "tissue.nii.gz", np.uint8)[0]
    cases.append(case)
    names.append(folder.name)
phantom_figure(cases, names, snakemake.output[0], channels)
