# Tables and figures, built only from the per-case metric CSVs and stage outputs.


rule translation_tables:
    input:
        metrics=expand(f"{R}/metrics/translation/{{run}}.csv", run=translation_runs()),
        sidecars=expand(f"{R}/models/translation/{{run}}.json", run=translation_runs()),
    output:
        **{
            f"{table}_{ext}": report(
                f"{R}/tables/{table}.{ext}",
                caption=f"../report/table_{table}.rst",
                category="5. Tables",
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
            category="2. Translation",
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
                category="5. Tables",
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
            method=TRANSLATION["methods"],
            level=max(LEVELS),
        ),
    output:
        report(
            f"{R}/figures/translation.png",
            caption="../report/translation.rst",
            category="2. Translation",
        ),
    log:
        log_path("translation_figure"),
    benchmark:
        bench_path("translation_figure")
    conda:
        "../../envs/cpu.yaml"
    params:
        methods=TRANSLATION["methods"],
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
            category="3. Synthesis",
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
            category="6. Training",
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
            category="4. Segmentation",
        ),
    log:
        log_path("dice_figure"),
    benchmark:
        bench_path("dice_figure")
    conda:
        "../../envs/cpu.yaml"
    script:
        "../../scripts/dice_figure.py"
