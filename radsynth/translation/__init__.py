"""Image translation under misalignment (RegGAN, NeurIPS 2021): controlled misalignment of the
training pairs (``misalign``, ``elastic``, ``misalign_torch``), the networks (``networks``,
``registration``, ``resunet``), the modes and their training (``modes``, ``step``, ``trainer``), inference
(``translator``), test-split evaluation, metrics, tables and figures."""
