"""What every family's report shares: table and figure building blocks (``tables``, ``figures``),
the data report (``data``) and the time and memory table of the rules (``benchmarks``). Each
family's own tables and figures live in ``radsynth.<family>.tables`` and ``.figures``."""
