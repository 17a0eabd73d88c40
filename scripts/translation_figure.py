"""Rule translation_figure: outputs and registration of the noise and mode tables' runs at the highest level."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.io import load_arrays
from radsynth.logs import log_to
from radsynth.translation.figures import translation_figure

log = log_to(snakemake.log[0])
examples = {method: load_arrays(path) for method, path in zip(snakemake.params.methods, snakemake.input.examples)}
translation_figure(examples, snakemake.output[0], snakemake.params.level)
