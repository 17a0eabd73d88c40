"""Networks: generators, discriminators, registration, diffusion and segmentation heads."""
