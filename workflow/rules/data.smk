# Data stages: (phantom) -> preprocess -> split -> pack, and the data report. The per-subject
# stages run a batch of subjects per job (radsynth.batch): each batch job writes its subjects'
# folders and a record per subject, and a subject that fails is recorded with the file and
# the reason, leaves no file, and is left out of the split.


rule phantom:
    output:
        f"{R}/records/phantom/{{batch}}.json",
    log:
        log_path("phantom", "{batch}"),
    benchmark:
        bench_path("phantom", "{batch}")
    priority: PRIORITY["data"]
    conda:
        "../../envs/cpu.yaml"
    threads: BATCH_THREADS
    params:
        dataset=DATASET,
        seed=config["seed"],
        subjects=lambda wildcards: BATCHES[wildcards.batch],
    script:
        "../../scripts/phantom.py"


rule preprocess:
    input:
        source_files,
    output:
        f"{R}/records/preprocess/{{batch}}.json",
    log:
        log_path("preprocess", "{batch}"),
    benchmark:
        bench_path("preprocess", "{batch}")
    priority: PRIORITY["data"]
    conda:
        "../../envs/cpu.yaml"
    threads: BATCH_THREADS
    params:
        dataset=reading_config(),
        sources=lambda wildcards: [SOURCES[s] for s in BATCHES[wildcards.batch]],
        folder=f"{R}/preprocessed",
        options={
            key: value
            for key, value in config["preprocess"].items()
            if key != "min_foreground"
        },
    script:
        "../../scripts/preprocess.py"


rule data_report:
    input:
        records("preprocess", all_subjects()),
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
        folder=f"{R}/preprocessed",
        channel=DATASET["channels"][0],
    script:
        "../../scripts/data_report.py"


checkpoint split:
    input:
        prepared=records("preprocess", all_subjects()),
        files=split_inputs(),
    output:
        f"{R}/splits.tsv",
    log:
        log_path("split"),
    benchmark:
        bench_path("split")
    priority: PRIORITY["data"]
    conda:
        "../../envs/cpu.yaml"
    params:
        names=subject_names(),
        groups={subject: source.group for subject, source in SOURCES.items()},
        options=config["split"],
        seed=config["seed"],
        duplicates=DATASET["duplicate_channels"],
        tasks=task_channels(),
    script:
        "../../scripts/split.py"


rule pack:
    input:
        splits=f"{R}/splits.tsv",
        prepared=lambda wildcards: records("preprocess", pack_subjects(wildcards.split)),
        sdf=lambda wildcards: (
            records("sdf", pack_subjects(wildcards.split)) if LABELLED else []
        ),
    output:
        f"{R}/packed/{{split}}.npz",
    log:
        log_path("pack", "{split}"),
    benchmark:
        bench_path("pack", "{split}")
    wildcard_constraints:
        split=r"train|val|test|cv\d+_train",
    priority: PRIORITY["data"]
    conda:
        "../../envs/cpu.yaml"
    params:
        subject_dirs=lambda wildcards: subject_dirs(pack_subjects(wildcards.split)),
        sdf=lambda wildcards: (
            [f"{R}/sdf/{s}.nii.gz" for s in pack_subjects(wildcards.split)]
            if LABELLED
            else None
        ),
        channels=DATASET["channels"],
        min_foreground=config["preprocess"]["min_foreground"],
    script:
        "../../scripts/pack.py"


rule phantom_figure:
    input:
        records("phantom", all_subjects()[:4]),
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
        subject_dirs=subject_dirs(all_subjects()[:4], "raw"),
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
        prepared=lambda wildcards: records("preprocess", pack_subjects(wildcards.split)),
        sdf=lambda wildcards: records("sdf3d", pack_subjects(wildcards.split)),
    output:
        f"{R}/packed/volumes/{{split}}.npz",
    log:
        log_path("pack_volumes", "{split}"),
    benchmark:
        bench_path("pack_volumes", "{split}")
    wildcard_constraints:
        split="train|val|test",
    priority: PRIORITY["data"]
    conda:
        "../../envs/cpu.yaml"
    params:
        subject_dirs=lambda wildcards: subject_dirs(pack_subjects(wildcards.split)),
        sdf=lambda wildcards: [
            f"{R}/sdf3d/{s}.nii.gz" for s in pack_subjects(wildcards.split)
        ],
        channels=DATASET["channels"],
    script:
        "../../scripts/pack_volumes.py"
