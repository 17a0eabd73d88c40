# Tables and figures, built only from the per-case metric CSVs and stage outputs, and the
# time and memory of every job. Report categories: STAGES in common.smk.


rule translation_tables:
    input:
        metrics=expand(f"{R}/metrics/translation/{{run}}.csv", run=translation_runs()),
        sidecars=expand(f"{R}/models/translation/{{run}}.json", run=translation_runs()),
    output:
        **{
            f"{table}_{ext}": report(
                f"{R}/tables/{table}.{ext}",
                caption=f"../report/table_{table}.rst",
                category=STAGES["translation"],
                subcategory="Tables",
                labels={"table": table, "format": ext},
            )
            for table in translation_tables()
            for ext in ["csv", "md", "tex"]
        },
    log:
        log_path("translation_tables"),
    benchmark:
        bench_path("translation_tables")
    conda:
        "../../envs/cpu.yaml"
    params:
        pair=f"{TRANSLATION['source']} to {TRANSLATION['target']}",
        methods=TRANSLATION["methods"],
        levels=LEVELS,
        modes=TRANSLATION["modes"],
        mode_level=mode_level(),
        unpaired=TRANSLATION["unpaired"],
    script:
        "../../scripts/translation_tables.py"


rule noise_curve:
    input:
        expand(
            f"{R}/metrics/translation/{{method}}_level{{level}}.csv",
            method=TRANSLATION["methods"],
            level=LEVELS,
        ),
    output:
        report(
            f"{R}/figures/noise_curve.png",
            caption="../report/noise_curve.rst",
            category=STAGES["translation"],
            subcategory="Figures",
        ),
    log:
        log_path("noise_curve"),
    benchmark:
        bench_path("noise_curve")
    conda:
        "../../envs/cpu.yaml"
    script:
        "../../scripts/noise_curve.py"


rule segmentation_tables:
    input:
        expand(f"{R}/metrics/segmentation/{{run}}.csv", run=segmentation_runs()),
    output:
        **{
            f"{table}_{ext}": report(
                f"{R}/tables/{table}.{ext}",
                caption=f"../report/table_{table}.rst",
                category=STAGES["segmentation"],
                subcategory="Tables",
                labels={"table": table, "format": ext},
            )
            for table in ["segmentation"]
            for ext in ["csv", "md", "tex"]
        },
    log:
        log_path("segmentation_tables"),
    benchmark:
        bench_path("segmentation_tables")
    conda:
        "../../envs/cpu.yaml"
    script:
        "../../scripts/segmentation_tables.py"


rule translation_figure:
    input:
        examples=expand(
            f"{R}/examples/translation/{{method}}_level{{level}}.npz",
            method=figure_methods(),
            level=max(LEVELS),
        ),
    output:
        report(
            f"{R}/figures/translation.png",
            caption="../report/translation.rst",
            category=STAGES["translation"],
            subcategory="Figures",
        ),
    log:
        log_path("translation_figure"),
    benchmark:
        bench_path("translation_figure")
    conda:
        "../../envs/cpu.yaml"
    params:
        methods=figure_methods(),
        level=max(LEVELS),
    script:
        "../../scripts/translation_figure.py"


rule synthetic_figure:
    input:
        synthetic=expand(
            f"{R}/synthetic/cv0_train/{{generator}}.npz", generator=generators()
        ),
        train=f"{R}/packed/cv0_train.npz",
    output:
        report(
            f"{R}/figures/synthetic.png",
            caption="../report/synthetic.rst",
            category=STAGES["synthesis"],
            subcategory="Figures",
        ),
    log:
        log_path("synthetic_figure"),
    benchmark:
        bench_path("synthetic_figure")
    conda:
        "../../envs/cpu.yaml"
    params:
        generators=generators(),
        channels=SEGMENTATION["channels"],
        prompt=DATASET["prompt"],
        names=subject_names(),
    script:
        "../../scripts/synthetic_figure.py"


rule loss_figure:
    input:
        translation=expand(
            f"{R}/models/translation/{{run}}.loss.tsv", run=translation_runs()
        ),
        synthesis=generator_losses(),
        segmentation=expand(
            f"{R}/models/segmentation/{{run}}.loss.tsv", run=segmentation_runs()
        ),
    output:
        report(
            f"{R}/figures/losses.png",
            caption="../report/losses.rst",
            category=STAGES["performance"],
            subcategory="Training losses",
        ),
    log:
        log_path("loss_figure"),
    benchmark:
        bench_path("loss_figure")
    conda:
        "../../envs/cpu.yaml"
    script:
        "../../scripts/loss_figure.py"


rule dice_figure:
    input:
        expand(f"{R}/metrics/segmentation/{{run}}.csv", run=segmentation_runs()),
    output:
        report(
            f"{R}/figures/dice.png",
            caption="../report/dice.rst",
            category=STAGES["segmentation"],
            subcategory="Figures",
        ),
    log:
        log_path("dice_figure"),
    benchmark:
        bench_path("dice_figure")
    conda:
        "../../envs/cpu.yaml"
    script:
        "../../scripts/dice_figure.py"


rule misalign_figure:
    input:
        pairs=lambda wildcards: [
            record
            for level in translation_levels()
            for record in records(
                "misalign", subjects_of("test", "translation")[:1], level
            )
        ],
    output:
        report(
            f"{R}/figures/misalignment.png",
            caption="../report/misalignment.rst",
            category=STAGES["misalignment"],
            subcategory="Figures",
        ),
    log:
        log_path("misalign_figure"),
    benchmark:
        bench_path("misalign_figure")
    conda:
        "../../envs/cpu.yaml"
    params:
        subject=lambda wildcards: subjects_of("test", "translation")[0],
        levels=translation_levels(),
        pair_dirs=lambda wildcards: expand(
            f"{R}/misaligned/{{subject}}/level{{level}}",
            subject=subjects_of("test", "translation")[:1],
            level=translation_levels(),
        ),
        names=[TRANSLATION["source"], TRANSLATION["target"]],
    script:
        "../../scripts/misalign_figure.py"


rule sdf_figure:
    input:
        unpack(sdf_examples),
    output:
        report(
            f"{R}/figures/sdf.png",
            caption="../report/sdf.rst",
            category=STAGES["sdf"],
            subcategory="Figures",
        ),
    log:
        log_path("sdf_figure"),
    benchmark:
        bench_path("sdf_figure")
    conda:
        "../../envs/cpu.yaml"
    params:
        subjects=lambda wildcards: pack_subjects("train"),
        labels=lambda wildcards: [
            f"{R}/preprocessed/{s}/label.nii.gz" for s in pack_subjects("train")
        ],
        sdf=lambda wildcards: [
            f"{R}/{sdf_folder()}/{s}.nii.gz" for s in pack_subjects("train")
        ],
        classes=DATASET["classes"],
        rows=3,
    script:
        "../../scripts/sdf_figure.py"


# Reads the benchmark file of every other job of the default target (job_patterns() in
# common.smk), so it runs last; its own benchmark is not in its table.
rule benchmark_table:
    input:
        unpack(benchmark_files),
    output:
        table=report(
            f"{R}/tables/benchmarks.csv",
            caption="../report/benchmarks_table.rst",
            category=STAGES["performance"],
            subcategory="Time and memory",
        ),
        figure=report(
            f"{R}/figures/benchmarks.png",
            caption="../report/benchmarks_figure.rst",
            category=STAGES["performance"],
            subcategory="Time and memory",
        ),
    log:
        log_path("benchmark_table"),
    benchmark:
        bench_path("benchmark_table")
    conda:
        "../../envs/cpu.yaml"
    params:
        usage=warm_usage_files,
    script:
        "../../scripts/benchmark_table.py"
