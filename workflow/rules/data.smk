# Data stages: ingest -> preprocess -> split -> (sdf) -> pack.


rule ingest:
    output:
        images=expand(
            f"{R}/raw/{{{{subject}}}}/{{channel}}.nii.gz", channel=DATASET["channels"]
        ),
        label=f"{R}/raw/{{subject}}/label.nii.gz",
        mask=f"{R}/raw/{{subject}}/mask.nii.gz",
        tissue=f"{R}/raw/{{subject}}/tissue.nii.gz",
    log:
        log_path("ingest", "{subject}"),
    benchmark:
        bench_path("ingest", "{subject}")
    conda:
        "../../envs/cpu.yaml"
    params:
        dataset=DATASET,
        seed=config["seed"],
        index=lambda wildcards: subject_index(wildcards.subject),
    script:
        "../../scripts/ingest.py"


rule preprocess:
    input:
        images=expand(
            f"{R}/raw/{{{{subject}}}}/{{channel}}.nii.gz", channel=DATASET["channels"]
        ),
        label=f"{R}/raw/{{subject}}/label.nii.gz",
        mask=f"{R}/raw/{{subject}}/mask.nii.gz",
    output:
        images=expand(
            f"{R}/preprocessed/{{{{subject}}}}/{{channel}}.nii.gz",
            channel=DATASET["channels"],
        ),
        label=f"{R}/preprocessed/{{subject}}/label.nii.gz",
        mask=f"{R}/preprocessed/{{subject}}/mask.nii.gz",
    log:
        log_path("preprocess", "{subject}"),
    benchmark:
        bench_path("preprocess", "{subject}")
    conda:
        "../../envs/cpu.yaml"
    params:
        channels=DATASET["channels"],
        size=config["preprocess"]["size"],
        percentiles=config["preprocess"]["percentiles"],
    script:
        "../../scripts/preprocess.py"


checkpoint split:
    output:
        f"{R}/splits.tsv",
    log:
        log_path("split"),
    benchmark:
        bench_path("split")
    conda:
        "../../envs/cpu.yaml"
    params:
        subjects=all_subjects(),
        fractions=config["split"]["fractions"],
        seed=config["seed"],
    script:
        "../../scripts/split.py"


rule pack:
    input:
        splits=f"{R}/splits.tsv",
        subjects=lambda wildcards: expand(
            f"{R}/preprocessed/{{subject}}/{{file}}.nii.gz",
            subject=subjects_of(wildcards.split),
            file=DATASET["channels"] + LABEL_FILES,
        ),
        sdf=lambda wildcards: expand(
            f"{R}/sdf/{{subject}}.nii.gz", subject=subjects_of(wildcards.split)
        ),
    output:
        f"{R}/packed/{{split}}.npz",
    log:
        log_path("pack", "{split}"),
    benchmark:
        bench_path("pack", "{split}")
    wildcard_constraints:
        split="train|val|test",
    conda:
        "../../envs/cpu.yaml"
    params:
        subject_dirs=lambda wildcards: expand(
            f"{R}/preprocessed/{{subject}}", subject=subjects_of(wildcards.split)
        ),
        channels=DATASET["channels"],
        min_foreground=config["preprocess"]["min_foreground"],
    script:
        "../../scripts/pack.py"


rule dataset_figure:
    input:
        images=lambda wildcards: expand(
            f"{R}/raw/{{subject}}/{{file}}.nii.gz",
            subject=all_subjects()[:4],
            file=DATASET["channels"] + ["label", "tissue"],
        ),
    output:
        report(
            f"{R}/figures/phantom.png",
            caption="../report/phantom.rst",
            category="1. Data",
        ),
    log:
        log_path("dataset_figure"),
    benchmark:
        bench_path("dataset_figure")
    conda:
        "../../envs/cpu.yaml"
    params:
        subject_dirs=expand(f"{R}/raw/{{subject}}", subject=all_subjects()[:4]),
        channels=DATASET["channels"],
    script:
        "../../scripts/dataset_figure.py"
