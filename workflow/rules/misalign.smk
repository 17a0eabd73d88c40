# Controlled misalignment (RegGAN noise levels), fixed and stored per pair, a batch of subjects
# per job: every subject its preprocess batch prepared.

if (
    config["misalign"]["interpolation"] != "bilinear"
    and not config["misalign"]["redraw"]
):
    raise ValueError(
        "config: misalign.interpolation nearest is the per-batch redraw's (misalign.redraw: true); "
        "the stored pairs are bilinear, with their exact ground-truth field"
    )


rule misalign:
    input:
        f"{R}/records/preprocess/{{batch}}.json",
    output:
        f"{R}/records/misalign/level{{level}}/{{batch}}.json",
    log:
        log_path("misalign", "level{level}_{batch}"),
    benchmark:
        bench_path("misalign", "level{level}_{batch}")
    wildcard_constraints:
        level=r"\d+",
    priority: PRIORITY["data"]
    conda:
        "../../envs/cpu.yaml"
    threads: BATCH_THREADS
    params:
        preprocessed=f"{R}/preprocessed",
        folder=f"{R}/misaligned",
        channels=[TRANSLATION["source"], TRANSLATION["target"]],
        seed=config["seed"],
        elastic=config["misalign"]["elastic"],
        spatial_dims=TRANSLATION["spatial_dims"],
    script:
        "../../scripts/misalign.py"


rule pack_pairs:
    input:
        splits=f"{R}/splits.tsv",
        pairs=lambda wildcards: records(
            "misalign", subjects_of(wildcards.split, "translation"), wildcards.level
        ),
    output:
        f"{R}/packed/level{{level}}/{{split}}.npz",
    log:
        log_path("pack_pairs", "level{level}_{split}"),
    benchmark:
        bench_path("pack_pairs", "level{level}_{split}")
    wildcard_constraints:
        split="train|val|test",
        level=r"\d+",
    priority: PRIORITY["data"]
    conda:
        "../../envs/cpu.yaml"
    params:
        pair_dirs=lambda wildcards: expand(
            f"{R}/misaligned/{{subject}}/level{{level}}",
            subject=subjects_of(wildcards.split, "translation"),
            level=wildcards.level,
        ),
        min_foreground=config["preprocess"]["min_foreground"],
        spatial_dims=TRANSLATION["spatial_dims"],
    script:
        "../../scripts/pack_pairs.py"
