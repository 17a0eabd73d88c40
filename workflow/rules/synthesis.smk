# Generators of synthetic image/mask pairs, each trained on one training set {pack} (the
# split's train subjects, or fold f's cv<f>_train of the comparison), and their samples.


wildcard_constraints:
    pack=r"train|cv\d+_train",
    generator="|".join(GENERATORS),


rule pool_slices:
    input:
        pool_files,
    output:
        f"{R}/pool/{{name}}.npz",
    log:
        log_path("pool_slices", "{name}"),
    benchmark:
        bench_path("pool_slices", "{name}")
    priority: PRIORITY["data"]
    conda:
        "../../envs/cpu.yaml"
    params:
        dataset=lambda wildcards: POOL[wildcards.name]["dataset"],
        preprocess=lambda wildcards: {
            **POOL[wildcards.name]["preprocess"],
            "size": config["preprocess"]["size"][:2],  # the task's slices
        },
        channels=lambda wildcards: pool_channels(
            POOL[wildcards.name]["dataset"]["channels"],
            POOL[wildcards.name]["channels"],
            len(SEGMENTATION["channels"]),
        ),
        # The job refuses pool subjects whose files have the content of task files. The task's
        # files are no inputs: editing one would re-run the pool and the pretraining on it.
        task=DATASET,
        seed=lambda wildcards: POOL[wildcards.name].get("seed"),
    script:
        "../../scripts/pool_slices.py"


rule pretrain_diffusion:
    input:
        pool=expand(f"{R}/pool/{{name}}.npz", name=list(POOL)),
        autoencoder=lambda wildcards: (
            f"{R}/models/synthesis/pool/autoencoder.pt" if DIFFUSION["latent"] else []
        ),
    output:
        model=f"{R}/models/synthesis/pool/diffusion.pt",
        sidecar=f"{R}/models/synthesis/pool/diffusion.json",
        history=f"{R}/models/synthesis/pool/diffusion.loss.tsv",
    log:
        log_path("pretrain_diffusion"),
    benchmark:
        bench_path("pretrain_diffusion")
    priority: PRIORITY["generator"]
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=DIFFUSION,
        slices=config["synthesis"]["train_slices"],
        seed=config["seed"],
        device=config["device"],
        resume=resume_path("pretrain_diffusion"),
        resume_every=config["resume_every"],
    script:
        "../../scripts/pretrain_diffusion.py"


rule pretrain_controlnet:
    input:
        pool=expand(f"{R}/pool/{{name}}.npz", name=list(POOL)),
        base=f"{R}/models/synthesis/pool/diffusion.pt",
        autoencoder=lambda wildcards: (
            f"{R}/models/synthesis/pool/autoencoder.pt" if DIFFUSION["latent"] else []
        ),
    output:
        model=f"{R}/models/synthesis/pool/controlnet.pt",
        sidecar=f"{R}/models/synthesis/pool/controlnet.json",
        history=f"{R}/models/synthesis/pool/controlnet.loss.tsv",
    log:
        log_path("pretrain_controlnet"),
    benchmark:
        bench_path("pretrain_controlnet")
    priority: PRIORITY["generator"]
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=DIFFUSION,
        seed=config["seed"],
        device=config["device"],
        resume=resume_path("pretrain_controlnet"),
        resume_every=config["resume_every"],
    script:
        "../../scripts/pretrain_controlnet.py"


rule pretrain_ddpm:
    input:
        pool=expand(f"{R}/pool/{{name}}.npz", name=list(POOL)),
    output:
        model=f"{R}/models/synthesis/pool/ddpm.pt",
        sidecar=f"{R}/models/synthesis/pool/ddpm.json",
        history=f"{R}/models/synthesis/pool/ddpm.loss.tsv",
    log:
        log_path("pretrain_ddpm"),
    benchmark:
        bench_path("pretrain_ddpm")
    priority: PRIORITY["generator"]
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=DIFFUSION,
        classes=len(DATASET["classes"]),
        seed=config["seed"],
        device=config["device"],
        resume=resume_path("pretrain_ddpm"),
        resume_every=config["resume_every"],
    script:
        "../../scripts/pretrain_ddpm.py"


rule train_pool_autoencoder:
    input:
        pool=expand(f"{R}/pool/{{name}}.npz", name=list(POOL)),
    output:
        model=f"{R}/models/synthesis/pool/autoencoder.pt",
        sidecar=f"{R}/models/synthesis/pool/autoencoder.json",
        history=f"{R}/models/synthesis/pool/autoencoder.loss.tsv",
    log:
        log_path("train_autoencoder", "pool"),
    benchmark:
        bench_path("train_autoencoder", "pool")
    priority: PRIORITY["generator"]
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=DIFFUSION["latent"],
        channels=None,  # pool slices are already in the task's channels
        seed=config["seed"],
        device=config["device"],
        resume=resume_path("train_autoencoder", "pool"),
        resume_every=config["resume_every"],
    script:
        "../../scripts/train_autoencoder.py"


rule train_autoencoder:
    input:
        train=f"{R}/packed/{{pack}}.npz",
    output:
        model=f"{R}/models/synthesis/{{pack}}/autoencoder.pt",
        sidecar=f"{R}/models/synthesis/{{pack}}/autoencoder.json",
        history=f"{R}/models/synthesis/{{pack}}/autoencoder.loss.tsv",
    log:
        log_path("train_autoencoder", "{pack}"),
    benchmark:
        bench_path("train_autoencoder", "{pack}")
    priority: PRIORITY["generator"]
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=DIFFUSION["latent"],
        channels=SEGMENTATION["channels"],
        curve=curve_settings,
        seed=config["seed"],
        device=config["device"],
        resume=resume_path("train_autoencoder", "{pack}"),
        resume_every=config["resume_every"],
    script:
        "../../scripts/train_autoencoder.py"


rule train_diffusion:
    input:
        train=f"{R}/packed/{{pack}}.npz",
        autoencoder=autoencoder_input,
        pretrained=pretrained_input,
        splits=pretrained_splits,
    output:
        model=f"{R}/models/synthesis/{{pack}}/diffusion.pt",
        sidecar=f"{R}/models/synthesis/{{pack}}/diffusion.json",
        history=f"{R}/models/synthesis/{{pack}}/diffusion.loss.tsv",
    log:
        log_path("train_diffusion", "{pack}"),
    benchmark:
        bench_path("train_diffusion", "{pack}")
    priority: PRIORITY["generator"]
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=DIFFUSION,
        prompt=DATASET["prompt"],
        names=subject_names(),
        channels=SEGMENTATION["channels"],
        curve=curve_settings,
        slices=config["synthesis"]["train_slices"],
        seed=config["seed"],
        device=config["device"],
        resume=resume_path("train_diffusion", "{pack}"),
        resume_every=config["resume_every"],
    script:
        "../../scripts/train_diffusion.py"


rule train_controlnet:
    input:
        train=f"{R}/packed/{{pack}}.npz",
        base=controlnet_base,
        init=controlnet_init,
        autoencoder=autoencoder_input,
    output:
        model=f"{R}/models/synthesis/{{pack}}/controlnet.pt",
        sidecar=f"{R}/models/synthesis/{{pack}}/controlnet.json",
        history=f"{R}/models/synthesis/{{pack}}/controlnet.loss.tsv",
        snapshots=directory(f"{R}/snapshots/synthesis/{{pack}}/controlnet"),
    log:
        log_path("train_controlnet", "{pack}"),
    benchmark:
        bench_path("train_controlnet", "{pack}")
    priority: PRIORITY["synthesis"]
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=DIFFUSION,
        prompt=DATASET["prompt"],
        names=subject_names(),
        channels=SEGMENTATION["channels"],
        curve=curve_settings,
        slices=config["synthesis"]["train_slices"],
        seed=config["seed"],
        device=config["device"],
        resume=resume_path("train_controlnet", "{pack}"),
        resume_every=config["resume_every"],
    script:
        "../../scripts/train_controlnet.py"


rule train_ddpm:
    input:
        train=f"{R}/packed/{{pack}}.npz",
        pretrained=ddpm_init,
    output:
        model=f"{R}/models/synthesis/{{pack}}/ddpm.pt",
        sidecar=f"{R}/models/synthesis/{{pack}}/ddpm.json",
        history=f"{R}/models/synthesis/{{pack}}/ddpm.loss.tsv",
        snapshots=directory(f"{R}/snapshots/synthesis/{{pack}}/ddpm"),
    log:
        log_path("train_ddpm", "{pack}"),
    benchmark:
        bench_path("train_ddpm", "{pack}")
    priority: PRIORITY["generator"]
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=DIFFUSION,
        classes=len(DATASET["classes"]),
        channels=SEGMENTATION["channels"],
        curve=curve_settings,
        slices=config["synthesis"]["train_slices"],
        seed=config["seed"],
        device=config["device"],
        resume=resume_path("train_ddpm", "{pack}"),
        resume_every=config["resume_every"],
    script:
        "../../scripts/train_ddpm.py"


rule train_gan:
    input:
        train=f"{R}/packed/{{pack}}.npz",
    output:
        model=f"{R}/models/synthesis/{{pack}}/gan.pt",
        sidecar=f"{R}/models/synthesis/{{pack}}/gan.json",
        history=f"{R}/models/synthesis/{{pack}}/gan.loss.tsv",
        snapshots=directory(f"{R}/snapshots/synthesis/{{pack}}/gan"),
    log:
        log_path("train_gan", "{pack}"),
    benchmark:
        bench_path("train_gan", "{pack}")
    priority: PRIORITY["synthesis"]
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=config["gan"],
        control={k: DIFFUSION["controlnet"][k] for k in ("edge_sigma", "mask_fill")},
        classes=len(DATASET["classes"]),
        channels=SEGMENTATION["channels"],
        curve=curve_settings,
        slices=config["synthesis"]["train_slices"],
        seed=config["seed"],
        device=config["device"],
        resume=resume_path("train_gan", "{pack}"),
        resume_every=config["resume_every"],
    script:
        "../../scripts/train_gan.py"


rule synthesize:
    input:
        model=f"{R}/models/synthesis/{{pack}}/{{generator}}.pt",
        train=f"{R}/packed/{{pack}}.npz",
        splits=split_table,
    output:
        pairs=f"{R}/synthetic/{{pack}}/{{generator}}.npz",
        provenance=f"{R}/synthetic/{{pack}}/{{generator}}.json",
    log:
        log_path("synthesize", "{pack}/{generator}"),
    benchmark:
        bench_path("synthesize", "{pack}/{generator}")
    priority: PRIORITY["synthesis"]
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        per_mask=config["synthesis"]["per_mask"],
        settings=DIFFUSION,
        prompt=DATASET["prompt"],
        names=subject_names(),
        channels=SEGMENTATION["channels"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/synthesize.py"
