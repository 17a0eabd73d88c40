"""Exports of radsynth's prepared data to the formats of other tools."""

from radsynth.export.nnunet import check_nnunet, export_nnunet

__all__ = ["check_nnunet", "export_nnunet"]
