# Diffusion anomaly detection (Wolleb et al., MICCAI 2022): models trained on the train split's
# slices with slice labels only; L and the guidance scale chosen on val; scored on test.


rule train_anomaly_ddpm:
    input:
        train=f"{R}/packed/train.npz",
    output:
        model=f"{R}/models/anomaly/ddpm.pt",
        sidecar=f"{R}/models/anomaly/ddpm.json",
        history=f"{R}/models/anomaly/ddpm.loss.tsv",
    log:
        log_path("train_anomaly_ddpm"),
    benchmark:
        bench_path("train_anomaly_ddpm")
    priority: PRIORITY["long"]
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        ddpm=ANOMALY["ddpm"],
        train_timesteps=ANOMALY["train_timesteps"],
        channels=anomaly_channels(),
        seed=config["seed"],
        device=config["device"],
        resume=resume_path("train_anomaly_ddpm"),
        resume_every=config["resume_every"],
    script:
        "../../scripts/train_anomaly_ddpm.py"


rule train_anomaly_classifier:
    input:
        train=f"{R}/packed/train.npz",
    output:
        model=f"{R}/models/anomaly/classifier.pt",
        sidecar=f"{R}/models/anomaly/classifier.json",
        history=f"{R}/models/anomaly/classifier.loss.tsv",
    log:
        log_path("train_anomaly_classifier"),
    benchmark:
        bench_path("train_anomaly_classifier")
    priority: PRIORITY["long"]
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        classifier=ANOMALY["classifier"],
        train_timesteps=ANOMALY["train_timesteps"],
        channels=anomaly_channels(),
        seed=config["seed"],
        device=config["device"],
        resume=resume_path("train_anomaly_classifier"),
        resume_every=config["resume_every"],
    script:
        "../../scripts/train_anomaly_classifier.py"


rule train_anomaly_autoencoder:
    input:
        train=f"{R}/packed/train.npz",
    output:
        model=f"{R}/models/anomaly/autoencoder.pt",
        sidecar=f"{R}/models/anomaly/autoencoder.json",
        history=f"{R}/models/anomaly/autoencoder.loss.tsv",
    log:
        log_path("train_anomaly_autoencoder"),
    benchmark:
        bench_path("train_anomaly_autoencoder")
    priority: PRIORITY["long"]
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        autoencoder=ANOMALY["autoencoder"],
        channels=anomaly_channels(),
        seed=config["seed"],
        device=config["device"],
        resume=resume_path("train_anomaly_autoencoder"),
        resume_every=config["resume_every"],
    script:
        "../../scripts/train_anomaly_autoencoder.py"


# The val split's sweep chooses L and the scale per method; the test split is then scored once.
rule detect_anomalies:
    input:
        unpack(anomaly_models),
        val=anomaly_val,
        test=f"{R}/packed/test.npz",
    output:
        metrics=f"{R}/metrics/anomaly/test.csv",
        sweep=f"{R}/metrics/anomaly/sweep.csv",
        chosen=f"{R}/metrics/anomaly/chosen.json",
        examples=f"{R}/examples/anomaly.npz",
    log:
        log_path("detect_anomalies"),
    benchmark:
        bench_path("detect_anomalies")
    priority: PRIORITY["long"]
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=anomaly_detection(),
        channels=anomaly_channels(),
        device=config["device"],
    script:
        "../../scripts/detect_anomalies.py"


rule anomaly_report:
    input:
        metrics=f"{R}/metrics/anomaly/test.csv",
        sweep=f"{R}/metrics/anomaly/sweep.csv",
        chosen=f"{R}/metrics/anomaly/chosen.json",
        examples=f"{R}/examples/anomaly.npz",
    output:
        **{
            f"anomaly_{ext}": report(
                f"{R}/tables/anomaly.{ext}",
                caption="../report/table_anomaly.rst",
                category=STAGES["anomaly"],
                subcategory="Tables",
                labels={"table": "anomaly", "format": ext},
            )
            for ext in ["csv", "md", "tex"]
        },
        maps=report(
            f"{R}/figures/anomaly.png",
            caption="../report/anomaly.rst",
            category=STAGES["anomaly"],
            subcategory="Figures",
        ),
        sweep=report(
            f"{R}/figures/anomaly_sweep.png",
            caption="../report/anomaly_sweep.rst",
            category=STAGES["anomaly"],
            subcategory="Figures",
        ),
    log:
        log_path("anomaly_report"),
    benchmark:
        bench_path("anomaly_report")
    conda:
        "../../envs/cpu.yaml"
    params:
        methods=ANOMALY["methods"],
    script:
        "../../scripts/anomaly_report.py"
