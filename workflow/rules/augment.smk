# The augmentation comparison (EMIT-Diff's table): in each fold of a k-fold split over the
# subjects, one segmenter per augmentation, trained on the fold's training subjects (plus
# synthetic pairs from generators trained on those subjects only) and scored on the rest, in
# the job that trained it.


checkpoint comparison_folds:
    input:
        f"{R}/splits.tsv",
    output:
        f"{R}/cv_folds.tsv",
    log:
        log_path("comparison_folds"),
    benchmark:
        bench_path("comparison_folds")
    priority: PRIORITY["data"]
    conda:
        "../../envs/cpu.yaml"
    params:
        folds=AUGMENTATION["folds"],
        seed=config["seed"],
    script:
        "../../scripts/comparison_folds.py"


rule train_augmented:
    input:
        train=f"{R}/packed/cv{{fold}}_train.npz",
        synthetic=synthetic_input,
        prepared=lambda wildcards: records(
            "preprocess", subjects_of(f"cv{wildcards.fold}_test")
        ),
    output:
        model=f"{R}/models/augmentation/cv{{fold}}/{{method}}.pt",
        sidecar=f"{R}/models/augmentation/cv{{fold}}/{{method}}.json",
        history=f"{R}/models/augmentation/cv{{fold}}/{{method}}.loss.tsv",
        metrics=f"{R}/metrics/augmentation/cv{{fold}}/{{method}}.csv",
        predictions=directory(f"{R}/predictions/augmentation/cv{{fold}}/{{method}}"),
    log:
        log_path("train_augmented", "cv{fold}/{method}"),
    benchmark:
        bench_path("train_augmented", "cv{fold}/{method}")
    wildcard_constraints:
        fold=r"\d+",
        method="none|contrast|noise|rotate|scale|deepstack|" + "|".join(GENERATORS),
    priority: PRIORITY["comparison"]
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=SEGMENTATION,
        augmentation=AUGMENTATION,
        test=lambda wildcards: segmentation_test(
            f"cv{wildcards.fold}_test",
            wildcards.method,
            f"cv{wildcards.fold}",
            slices=True,
        ),
        seed=config["seed"],
        device=config["device"],
        resume=resume_path("train_augmented", "cv{fold}/{method}"),
        resume_every=config["resume_every"],
    script:
        "../../scripts/train_augmented.py"


rule synthesis_metrics:
    input:
        synthetic=[
            f"{R}/synthetic/cv{fold}_train/{g}.npz"
            for fold in cv_folds()
            for g in generators()
        ],
        train=expand(f"{R}/packed/cv{{fold}}_train.npz", fold=cv_folds()),
        segmenters=expand(
            f"{R}/models/augmentation/cv{{fold}}/none.pt", fold=cv_folds()
        ),
    output:
        [
            f"{R}/metrics/synthesis/cv{fold}/{g}.csv"
            for fold in cv_folds()
            for g in generators()
        ],
    log:
        log_path("synthesis_metrics"),
    benchmark:
        bench_path("synthesis_metrics")
    priority: PRIORITY["comparison"]
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        folds=cv_folds(),
        generators=generators(),
        channels=SEGMENTATION["channels"],
        classes=len(DATASET["classes"]),
        device=config["device"],
    script:
        "../../scripts/synthesis_metrics.py"


rule augmentation_tables:
    input:
        segmentation=expand(
            f"{R}/metrics/augmentation/{{run}}.csv", run=augmentation_runs()
        ),
        synthesis=expand(
            f"{R}/metrics/synthesis/cv{{fold}}/{{generator}}.csv",
            fold=cv_folds(),
            generator=generators(),
        ),
    output:
        **{
            f"{table}_{ext}": report(
                f"{R}/tables/{table}.{ext}",
                caption=f"../report/table_{table}.rst",
                category=STAGES[table],
                subcategory="Tables",
                labels={"table": table, "format": ext},
            )
            for table in ["augmentation", "synthesis"]
            for ext in ["csv", "md", "tex"]
        },
    log:
        log_path("augmentation_tables"),
    benchmark:
        bench_path("augmentation_tables")
    conda:
        "../../envs/cpu.yaml"
    params:
        order=AUGMENTATION["methods"],
    script:
        "../../scripts/augmentation_tables.py"


rule structure_curve:
    input:
        packs=expand(f"{R}/packed/cv{{fold}}_train.npz", fold=cv_folds()),
        segmenters=expand(
            f"{R}/models/augmentation/cv{{fold}}/none.pt", fold=cv_folds()
        ),
        models=[
            f"{R}/models/synthesis/cv{fold}_train/{g}.pt" for fold, g in curve_runs()
        ],
        snapshots=[
            f"{R}/snapshots/synthesis/cv{fold}_train/{g}" for fold, g in curve_runs()
        ],
    output:
        table=report(
            f"{R}/tables/structure_curve.csv",
            caption="../report/table_structure_curve.rst",
            category=STAGES["synthesis"],
            subcategory="Tables",
        ),
        figure=report(
            f"{R}/figures/structure_curve.png",
            caption="../report/structure_curve.rst",
            category=STAGES["synthesis"],
            subcategory="Figures",
        ),
    log:
        log_path("structure_curve"),
    benchmark:
        bench_path("structure_curve")
    priority: PRIORITY["comparison"]
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        folds=cv_folds(),
        generators=generators(),
        runs=curve_runs(),
        curve=config["synthesis"],
        settings=DIFFUSION,
        prompt=DATASET["prompt"],
        names=subject_names(),
        channels=SEGMENTATION["channels"],
        classes=len(DATASET["classes"]),
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/structure_curve.py"
