# Mask-conditioned diffusion model (DDPM training, DDIM sampling) on the training split.


rule train_diffusion:
    input:
        train=f"{R}/packed/train.npz",
    output:
        model=f"{R}/models/diffusion/ddpm.pt",
        sidecar=f"{R}/models/diffusion/ddpm.json",
        history=f"{R}/models/diffusion/ddpm.loss.tsv",
    log:
        log_path("train_diffusion"),
    benchmark:
        bench_path("train_diffusion")
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=config["diffusion"],
        channels=SEGMENTATION["channels"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/train_diffusion.py"
