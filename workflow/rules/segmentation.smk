# Downstream segmentation: supervised with each augmentation, and DTC at a low label fraction.


rule train_segmentation:
    input:
        train=f"{R}/packed/train.npz",
        splits=f"{R}/splits.tsv",
        synthetic=synthetic_input,
    output:
        model=f"{R}/models/segmentation/{{method}}-{{augmentation}}-{{labelled}}.pt",
        sidecar=f"{R}/models/segmentation/{{method}}-{{augmentation}}-{{labelled}}.json",
        history=f"{R}/models/segmentation/{{method}}-{{augmentation}}-{{labelled}}.loss.tsv",
    log:
        log_path("train_segmentation", "{method}-{augmentation}-{labelled}"),
    benchmark:
        bench_path("train_segmentation", "{method}-{augmentation}-{labelled}")
    wildcard_constraints:
        method="supervised|dtc",
        augmentation="none|classic|diffusion",
        labelled=r"\d+",
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=SEGMENTATION,
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/train_segmentation.py"


rule evaluate_segmentation:
    input:
        model=f"{R}/models/segmentation/{{run}}.pt",
        subjects=lambda wildcards: expand(
            f"{R}/preprocessed/{{subject}}/{{file}}.nii.gz",
            subject=subjects_of("test"),
            file=SEGMENTATION["channels"] + ["label"],
        ),
    output:
        metrics=f"{R}/metrics/segmentation/{{run}}.csv",
        predictions=directory(f"{R}/predictions/segmentation/{{run}}"),
    log:
        log_path("evaluate_segmentation", "{run}"),
    benchmark:
        bench_path("evaluate_segmentation", "{run}")
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        subject_dirs=lambda wildcards: expand(
            f"{R}/preprocessed/{{subject}}", subject=subjects_of("test")
        ),
        channels=SEGMENTATION["channels"],
        classes=DATASET["classes"],
        device=config["device"],
    script:
        "../../scripts/evaluate_segmentation.py"
