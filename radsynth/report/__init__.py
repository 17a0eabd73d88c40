"""Tables and figures, built only from the per-case metric CSVs and stage outputs."""
