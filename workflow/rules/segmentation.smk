# Downstream segmentation: the semi-supervised methods (DTC, mean teacher, the supervised_sdf
# ablation) and supervised training at each labelled amount, per seed, each scored on the test
# subjects in the job that trained it (radsynth.segmentation.scoring says why).

# labelled_from "list": the first N cases of the dataset's own train list are labelled (DTC).
LABELLED_LIST = None
if SEGMENTATION["labelled_from"] == "list":
    LABELLED_LIST = (config["split"].get("lists") or {}).get("train")
    if not LABELLED_LIST:
        raise ValueError(
            "config: segmentation.labelled_from 'list' needs split.lists.train (the dataset's train list)"
        )


rule train_segmentation:
    input:
        train=segmentation_train(),
        splits=f"{R}/splits.tsv",
        prepared=lambda wildcards: records(
            "preprocess", subjects_of("test", "segmentation")
        ),
    output:
        model=f"{R}/models/segmentation/{{method}}-{{augmentation}}-{{labelled}}-s{{seed}}.pt",
        sidecar=f"{R}/models/segmentation/{{method}}-{{augmentation}}-{{labelled}}-s{{seed}}.json",
        history=f"{R}/models/segmentation/{{method}}-{{augmentation}}-{{labelled}}-s{{seed}}.loss.tsv",
        metrics=f"{R}/metrics/segmentation/{{method}}-{{augmentation}}-{{labelled}}-s{{seed}}.csv",
        predictions=directory(
            f"{R}/predictions/segmentation/{{method}}-{{augmentation}}-{{labelled}}-s{{seed}}"
        ),
    log:
        log_path("train_segmentation", "{method}-{augmentation}-{labelled}-s{seed}"),
    benchmark:
        bench_path("train_segmentation", "{method}-{augmentation}-{labelled}-s{seed}")
    wildcard_constraints:
        method="supervised|supervised_sdf|dtc|mean_teacher",
        augmentation="none",
        labelled=r"\d+|n\d+",
        seed=r"\d+",
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=SEGMENTATION,
        labelled_list=LABELLED_LIST,
        names=subject_names() if LABELLED_LIST else {},
        test=lambda wildcards: segmentation_test(
            "test",
            wildcards.method,
            f"{wildcards.augmentation}-{wildcards.labelled}-s{wildcards.seed}",
        ),
        device=config["device"],
        resume=resume_path(
            "train_segmentation", "{method}-{augmentation}-{labelled}-s{seed}"
        ),
        resume_every=config["resume_every"],
    script:
        "../../scripts/train_segmentation.py"
