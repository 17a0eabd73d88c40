# Temporal generation (DDM, Kim & Ye, MICCAI 2022): cardiac cines split by subject, models
# trained on the training subjects' (ED, ES) pairs, the frames between generated and scored.


rule prepare_cines:
    output:
        train=f"{R}/temporal/train.npz",
        test=f"{R}/temporal/test.npz",
        splits=f"{R}/temporal/splits.tsv",
    log:
        log_path("prepare_cines"),
    benchmark:
        bench_path("prepare_cines")
    priority: PRIORITY["data"]
    conda:
        "../../envs/cpu.yaml"
    params:
        source=TEMPORAL["source"],
        spatial_dims=TEMPORAL["spatial_dims"],
        test_fraction=TEMPORAL["test_fraction"],
        seed=config["seed"],
    script:
        "../../scripts/prepare_cines.py"


rule train_temporal:
    input:
        train=f"{R}/temporal/train.npz",
    output:
        model=f"{R}/models/temporal/{{model}}.pt",
        sidecar=f"{R}/models/temporal/{{model}}.json",
        history=f"{R}/models/temporal/{{model}}.loss.tsv",
    log:
        log_path("train_temporal", "{model}"),
    benchmark:
        bench_path("train_temporal", "{model}")
    wildcard_constraints:
        model="ddm|registration",
    priority: PRIORITY["long"]
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=lambda wildcards: TEMPORAL[wildcards.model],
        ddm=TEMPORAL["ddm"],
        channels=["cine"],
        seed=config["seed"],
        device=config["device"],
        resume=resume_path("train_temporal", "{model}"),
        resume_every=config["resume_every"],
    script:
        "../../scripts/train_temporal.py"


rule generate_frames:
    input:
        unpack(temporal_models),
        test=f"{R}/temporal/test.npz",
    output:
        metrics=f"{R}/metrics/temporal/test.csv",
        examples=f"{R}/examples/temporal.npz",
    log:
        log_path("generate_frames"),
    benchmark:
        bench_path("generate_frames")
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        methods=TEMPORAL["methods"],
        device=config["device"],
    script:
        "../../scripts/generate_frames.py"


rule temporal_report:
    input:
        metrics=f"{R}/metrics/temporal/test.csv",
        examples=f"{R}/examples/temporal.npz",
    output:
        **{
            f"temporal_{ext}": report(
                f"{R}/tables/temporal.{ext}",
                caption="../report/table_temporal.rst",
                category=STAGES["temporal"],
                subcategory="Tables",
                labels={"table": "temporal", "format": ext},
            )
            for ext in ["csv", "md", "tex"]
        },
        figure=report(
            f"{R}/figures/temporal.png",
            caption="../report/temporal.rst",
            category=STAGES["temporal"],
            subcategory="Figures",
        ),
        cycle=report(
            f"{R}/figures/temporal_cycle.gif",
            caption="../report/temporal_cycle.rst",
            category=STAGES["temporal"],
            subcategory="Figures",
        ),
    log:
        log_path("temporal_report"),
    benchmark:
        bench_path("temporal_report")
    conda:
        "../../envs/cpu.yaml"
    params:
        methods=TEMPORAL["methods"],
    script:
        "../../scripts/temporal_report.py"
