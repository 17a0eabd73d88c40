"""Diffusion anomaly detection (Wolleb et al., MICCAI 2022): a class-conditional DDPM and a
noisy-slice classifier trained on slice labels only, healthy counterfactuals by DDIM encoding to
noise level L and guided decoding, anomaly maps, and the reconstruction baselines.

Reading order: ``data`` (slice labels) -> ``networks`` -> ``trainers`` -> ``ddim`` (encode,
guided decode) -> ``detect`` (methods, sweep) -> ``metrics`` -> ``tables`` / ``figures``.
"""
