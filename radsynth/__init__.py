"""radsynth: generative medical-image synthesis and augmentation, stage by stage.

The library reads like the workflow's DAG. Each task family is one package that owns its
networks, training loop, evaluation, metrics, tables and figures:

- ``translation``: RegGAN's controlled misalignment and Pix2Pix / CycleGAN / RegGAN;
- ``segmentation``: DTC's signed distance maps, supervised and semi-supervised segmenters;
- ``synthesis``: the generators of synthetic image/mask pairs (mask-GAN, DDPM, EMIT-Diff's
  ControlNet) and the augmentation comparison's tables.

They stand on a small shared core: ``data`` (dataset adapters, the phantom), ``preprocess``,
``split``, ``pack``, ``augment``, ``export``, ``training`` (device, seed and progress helpers,
resumable state), ``report`` (table and figure building blocks, the data report, benchmarks)
and ``io``, ``logs``, ``provenance``, ``devices``, ``geometry``, ``cli``. Each stage is a plain
function on arrays or paths, so a workflow script is glue and a test needs no Snakemake.
"""

__version__ = "0.1.0"
