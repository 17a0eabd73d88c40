"""Rules sdf, sdf_volume: DTC signed distance maps of a batch's labels, one map per foreground
class, per axial slice (2D training) or over the whole volume (3D)."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.batch import map_subjects, read_records, usable, write_records
from radsynth.logs import log_to
from radsynth.segmentation.sdf import write_label_sdf

log = log_to(snakemake.log[0])
params = snakemake.params
jobs = [
    (subject, (f"{params.preprocessed}/{subject}/label.nii.gz", f"{params.folder}/{subject}.nii.gz",
               params.classes, params.slice_axis))
    for subject in usable(read_records(snakemake.input))
]  # fmt: skip
records = map_subjects(write_label_sdf, jobs, snakemake.threads)
write_records(snakemake.output[0], records)
log.info("SDFs of %d subjects", len(records))
