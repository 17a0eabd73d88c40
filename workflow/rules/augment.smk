# Synthetic image/mask pairs from the diffusion model, conditioned on training masks only.


rule synthesize:
    input:
        model=f"{R}/models/diffusion/ddpm.pt",
        train=f"{R}/packed/train.npz",
        splits=f"{R}/splits.tsv",
    output:
        pairs=f"{R}/synthetic/diffusion.npz",
        provenance=f"{R}/synthetic/diffusion.json",
    log:
        log_path("synthesize"),
    benchmark:
        bench_path("synthesize")
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        per_mask=config["synthesis"]["per_mask"],
        settings=config["diffusion"],
        channels=SEGMENTATION["channels"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/synthesize.py"
