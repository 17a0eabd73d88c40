# Undersampled MRI reconstruction (MC-DDPM, DiffuseRecon; MICCAI 2022): models trained on the
# train split's fully sampled slices, every method scored on the test split's slices.


rule train_recon:
    input:
        train=recon_split("train"),
    output:
        model=f"{R}/models/recon/{{model}}.pt",
        sidecar=f"{R}/models/recon/{{model}}.json",
        history=f"{R}/models/recon/{{model}}.loss.tsv",
    log:
        log_path("train_recon", "{model}"),
    benchmark:
        bench_path("train_recon", "{model}")
    wildcard_constraints:
        model="unet|mcddpm|diffuserecon",
    priority: PRIORITY["long"]
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=lambda wildcards: RECON[wildcards.model],
        channels=[recon_channel()],
        fastmri=bool(RECON["fastmri"]),
        min_foreground=RECON["min_foreground"],
        accelerations=RECON["accelerations"],
        seed=config["seed"],
        device=config["device"],
        resume=resume_path("train_recon", "{model}"),
        resume_every=config["resume_every"],
    script:
        "../../scripts/train_recon.py"


rule reconstruct:
    input:
        unpack(recon_models),
        test=recon_split("test"),
    output:
        metrics=f"{R}/metrics/recon/test.csv",
        examples=f"{R}/examples/recon.npz",
    log:
        log_path("reconstruct"),
    benchmark:
        bench_path("reconstruct")
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        methods=RECON["methods"],
        settings=recon_sampling(),
        channels=[recon_channel()],
        fastmri=bool(RECON["fastmri"]),
        min_foreground=RECON["min_foreground"],
        test_slices=RECON["test_slices"],
        accelerations=RECON["accelerations"],
        batch_size=RECON["batch_size"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/reconstruct.py"


rule recon_report:
    input:
        metrics=f"{R}/metrics/recon/test.csv",
        examples=f"{R}/examples/recon.npz",
    output:
        **{
            f"recon_{ext}": report(
                f"{R}/tables/recon.{ext}",
                caption="../report/table_recon.rst",
                category=STAGES["recon"],
                subcategory="Tables",
                labels={"table": "recon", "format": ext},
            )
            for ext in ["csv", "md", "tex"]
        },
        figure=report(
            f"{R}/figures/recon.png",
            caption="../report/recon.rst",
            category=STAGES["recon"],
            subcategory="Figures",
        ),
    log:
        log_path("recon_report"),
    benchmark:
        bench_path("recon_report")
    conda:
        "../../envs/cpu.yaml"
    params:
        methods=RECON["methods"],
    script:
        "../../scripts/recon_report.py"
