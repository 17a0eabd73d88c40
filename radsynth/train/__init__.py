"""Training loops: translation (Pix2Pix / CycleGAN / RegGAN), diffusion, segmentation (DTC)."""
