"""Segmentation, supervised and semi-supervised (DTC, AAAI 2021; mean teacher): signed distance
maps (``sdf``), the networks (``networks``, ``vnet``), batches and patches, the consistency
losses and the trainer, sliding-window evaluation, post-processing, metrics, tables and
figures."""
