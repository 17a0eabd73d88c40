"""radsynth: generative medical-image synthesis and augmentation, stage by stage.

The package mirrors the workflow's DAG: ``data`` (dataset adapters, the phantom),
``preprocess``, ``split``, ``misalign``, ``sdf``, ``pack``, ``nets``, ``train``,
``synthesis``, ``augment``, ``metrics`` and ``report``. Each stage is a plain function on
arrays or paths, so a workflow script is glue and a test needs no Snakemake.
"""

__version__ = "0.1.0"
