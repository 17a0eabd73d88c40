"""Rule comparison_folds: the augmentation comparison's k folds over every usable subject (each fold
held out once, the others train its generators and segmenters), written once to cv_folds.tsv."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

import pandas as pd

from radsynth.io import write_csv
from radsynth.logs import log_to
from radsynth.provenance import provenance_sidecars
from radsynth.split import cross_validation_folds, excluded_subjects

log = log_to(snakemake.log[0])
splits = pd.read_csv(snakemake.input[0], sep="\t", keep_default_na=False)
# Every subject that passed its checks and that segmentation may read (the comparison segments).
usable = splits[(splits["split"] != "failed") & ~splits["subject"].isin(excluded_subjects(splits, "segmentation"))]
strata = dict(zip(usable["subject"], usable["stratum"])) if (usable["stratum"] != "").any() else None
folds = snakemake.params.folds
try:
    fold_of = cross_validation_folds(list(usable["subject"]), folds, snakemake.params.seed, strata)
except ValueError as error:
    raise ValueError(
        f"augmentation.folds = {folds}: {error}; set augmentation.folds to at most {len(usable)} "
        "(and at least 2), or augmentation.methods: [] to leave the comparison out"
    ) from error
table = pd.DataFrame({"subject": list(fold_of), "cv_fold": list(fold_of.values())}).sort_values("subject")
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    write_csv(snakemake.output[0], table, sep="\t")
log.info("fold sizes: %s", table["cv_fold"].value_counts().sort_index().to_dict())
