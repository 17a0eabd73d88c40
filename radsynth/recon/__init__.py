"""Undersampled single-coil MRI reconstruction (MICCAI 2022): MC-DDPM (diffusion of the
unmeasured k-space, conditioned on the mask) and DiffuseRecon (an unconditional DDPM guided by
the measurement, coarse to fine), against zero-filling and a supervised U-Net, on k-space
simulated from magnitude slices or read from fastMRI single-coil files.

Reading order: ``kspace`` (FFTs, phase, masks) -> ``data`` -> ``chain`` (the respaced DDPM) ->
``mcddpm`` / ``diffuserecon`` -> ``networks`` -> ``trainers`` -> ``evaluate`` -> ``metrics`` ->
``tables`` / ``figures``.
"""
