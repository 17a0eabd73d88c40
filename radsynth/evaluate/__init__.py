"""Running trained models on the test split and turning their outputs into per-case metrics."""
