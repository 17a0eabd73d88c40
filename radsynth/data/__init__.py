"""Dataset adapters and the embedded procedural phantom (``radsynth.data.phantom``)."""
