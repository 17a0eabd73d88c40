# Data stages: (phantom) -> verify -> preprocess -> split -> (sdf) -> pack, and the data report.


rule phantom:
    output:
        images=expand(
            f"{R}/raw/{{{{subject}}}}/{{channel}}.nii.gz", channel=DATASET["channels"]
        ),
        label=f"{R}/raw/{{subject}}/label.nii.gz",
        mask=f"{R}/raw/{{subject}}/mask.nii.gz",
        tissue=f"{R}/raw/{{subject}}/tissue.nii.gz",
    log:
        log_path("phantom", "{subject}"),
    benchmark:
        bench_path("phantom", "{subject}")
    conda:
        "../../envs/cpu.yaml"
    params:
        dataset=DATASET,
        seed=config["seed"],
        index=lambda wildcards: subject_index(wildcards.subject),
    script:
        "../../scripts/phantom.py"


rule verify:
    input:
        source_files,
    output:
        f"{R}/verify/{{subject}}.json",
    log:
        log_path("verify", "{subject}"),
    benchmark:
        bench_path("verify", "{subject}")
    conda:
        "../../envs/cpu.yaml"
    params:
        dataset=DATASET,
        source=lambda wildcards: SOURCES[wildcards.subject],
    script:
        "../../scripts/verify.py"


rule preprocess:
    input:
        files=source_files,
        verified=f"{R}/verify/{{subject}}.json",
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
        dataset=DATASET,
        source=lambda wildcards: SOURCES[wildcards.subject],
        options={
            key: value
            for key, value in config["preprocess"].items()
            if key != "min_foreground"
        },
    script:
        "../../scripts/preprocess.py"


rule data_report:
    input:
        verified=expand(f"{R}/verify/{{subject}}.json", subject=all_subjects()),
        labels=expand(
            f"{R}/preprocessed/{{subject}}/label.nii.gz", subject=all_subjects()
        ),
    output:
        table=report(
            f"{R}/data/subjects.tsv",
            caption="../report/data_table.rst",
            category=STAGES["data"],
            subcategory="Tables",
            labels={"table": "subjects", "format": "tsv"},
        ),
        figure=report(
            f"{R}/figures/data.png",
            caption="../report/data_figure.rst",
            category=STAGES["data"],
            subcategory="Figures",
        ),
    log:
        log_path("data_report"),
    benchmark:
        bench_path("data_report")
    conda:
        "../../envs/cpu.yaml"
    params:
        subject_dirs=expand(f"{R}/preprocessed/{{subject}}", subject=all_subjects()),
        channel=DATASET["channels"][0],
    script:
        "../../scripts/data_report.py"


checkpoint split:
    input:
        split_inputs(),
    output:
        f"{R}/splits.tsv",
    log:
        log_path("split"),
    benchmark:
        bench_path("split")
    conda:
        "../../envs/cpu.yaml"
    params:
        subjects={subject: source.name for subject, source in SOURCES.items()},
        options=config["split"],
        cv_folds=len(cv_folds()),
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
        split=r"train|val|test|cv\d+_train",
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


rule phantom_figure:
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
            category=STAGES["data"],
            subcategory="Figures",
        ),
    log:
        log_path("phantom_figure"),
    benchmark:
        bench_path("phantom_figure")
    conda:
        "../../envs/cpu.yaml"
    params:
        subject_dirs=expand(f"{R}/raw/{{subject}}", subject=all_subjects()[:4]),
        channels=DATASET["channels"],
    script:
        "../../scripts/phantom_figure.py"


rule prepare:
    input:
        f"{R}/data/subjects.tsv",
        expand(f"{R}/packed/{{split}}.npz", split=["train", "test"]),
    benchmark:
        bench_path("prepare")


rule pack_volumes:
    input:
        splits=f"{R}/splits.tsv",
        subjects=lambda wildcards: expand(
            f"{R}/preprocessed/{{subject}}/{{file}}.nii.gz",
            subject=subjects_of(wildcards.split),
            file=DATASET["channels"] + LABEL_FILES,
        ),
        sdf=lambda wildcards: expand(
            f"{R}/sdf3d/{{subject}}.nii.gz", subject=subjects_of(wildcards.split)
        ),
    output:
        f"{R}/packed/volumes/{{split}}.npz",
    log:
        log_path("pack_volumes", "{split}"),
    benchmark:
        bench_path("pack_volumes", "{split}")
    wildcard_constraints:
        split="train|val|test",
    conda:
        "../../envs/cpu.yaml"
    params:
        subject_dirs=lambda wildcards: expand(
            f"{R}/preprocessed/{{subject}}", subject=subjects_of(wildcards.split)
        ),
        channels=DATASET["channels"],
    script:
        "../../scripts/pack_volumes.py"
