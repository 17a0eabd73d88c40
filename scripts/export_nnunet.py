"""Rules export_nnunet(_synthetic): nnU-Net v2 raw dataset (train + val in imagesTr, test in
imagesTs), optionally with the synthetic pairs as extra training cases. The export checks its
own structure (check_nnunet) before it appears."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from pathlib import Path

import pandas as pd

from radsynth.export.nnunet import export_nnunet
from radsynth.io import load_arrays
from radsynth.logs import log_to
from radsynth.split import subjects_in

log = log_to(snakemake.log[0])
splits = pd.read_csv(snakemake.input.splits, sep="\t")
folder = Path(snakemake.params.preprocessed)


def dirs(*names):
    return {subject: folder / subject for name in names for subject in subjects_in(splits, name)}


synthetic = load_arrays(snakemake.input.synthetic) if "synthetic" in snakemake.input.keys() else None
export_nnunet(
    snakemake.output[0],
    dirs("train", "val"),
    dirs("test"),
    snakemake.params.channels,
    snakemake.params.classes,
    synthetic=synthetic,
    description=snakemake.params.description,
)
log.info("exported %s", snakemake.output[0])
