"""Rule misalign: RegGAN-style random affine of one subject's source/target at one level,
per slice (2D translation) or per volume (3D).

Stored once per pair (the realistic case), with the ground-truth displacement field; an
optional elastic part is added to each affine.
"""

import zlib

import numpy as np

from radsynth.io import read_nifti, write_nifti
from radsynth.logs import log_to
from radsynth.translation.misalign import misalign_volume

log = log_to(snakemake.log[0])
subject, level = snakemake.wildcards.subject, int(snakemake.wildcards.level)
source, affine = read_nifti(snakemake.input.source)
target, _ = read_nifti(snakemake.input.target)
mask, _ = read_nifti(snakemake.input.mask, np.uint8)

# The draw depends on (seed, level, subject) only, never on job order.
rng = np.random.default_rng([snakemake.params.seed, level, zlib.crc32(subject.encode())])
moved = misalign_volume(
    source,
    target,
    level,
    rng,
    axis=-1,
    mask=mask,
    spatial_dims=snakemake.params.spatial_dims,
    elastic=snakemake.params.elastic,
)

write_nifti(snakemake.output.source, moved.source.astype(np.float32), affine)
write_nifti(snakemake.output.target, moved.target.astype(np.float32), affine)
write_nifti(snakemake.output.mask, moved.mask.astype(np.uint8), affine)
write_nifti(snakemake.output.field, moved.field.astype(np.float32), affine)
log.info("%s level %d: mean |field| %.2f px", subject, level, np.linalg.norm(moved.field, axis=-1).mean())
