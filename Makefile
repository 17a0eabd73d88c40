# radsynth: two commands do all the set-up.
#   make demo   installs what is missing, runs the workflow on the embedded phantom (quick scale)
#   make test   installs what is missing, runs the test suite
PYTHON ?= python3
CORES ?= all
SNAKEMAKE = $(PYTHON) -m snakemake
# Every import the workflow and the tests need; when one is missing we install.
IMPORTS = radsynth, snakemake, torch, monai, einops, nibabel, SimpleITK, skimage, scipy, pandas, matplotlib, h5py, tqdm, tabulate, jinja2, pytest, medpy, snakemake_executor_plugin_slurm

.PHONY: install demo test test-fast report clean

install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install torch==2.13.0
	@$(PYTHON) -c "import $(IMPORTS)" 2>/dev/null || $(PYTHON) -m pip install -e ".[test]"

demo: install
	$(SNAKEMAKE) --cores $(CORES)
	$(SNAKEMAKE) --cores $(CORES) --report results/report.html

test: install
	$(PYTHON) -m pytest -x -q --durations=15

# The unit tests only (no Snakemake run, no ../shared/data): a few minutes.
test-fast: install
	$(PYTHON) -m pytest -x -q -m "not integration and not realdata"

clean:
	rm -rf results .snakemake
