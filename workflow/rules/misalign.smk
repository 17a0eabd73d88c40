# Controlled misalignment (RegGAN noise levels), fixed and stored per pair.


rule misalign:
    input:
        source=f"{R}/preprocessed/{{subject}}/{TRANSLATION['source']}.nii.gz",
        target=f"{R}/preprocessed/{{subject}}/{TRANSLATION['target']}.nii.gz",
        mask=f"{R}/preprocessed/{{subject}}/mask.nii.gz",
    output:
        source=f"{R}/misaligned/{{subject}}/level{{level}}/source.nii.gz",
        target=f"{R}/misaligned/{{subject}}/level{{level}}/target.nii.gz",
        mask=f"{R}/misaligned/{{subject}}/level{{level}}/mask.nii.gz",
        field=f"{R}/misaligned/{{subject}}/level{{level}}/field.nii.gz",
    log:
        log_path("misalign", "{subject}_level{level}"),
    benchmark:
        bench_path("misalign", "{subject}_level{level}")
    wildcard_constraints:
        level=r"\d+",
    conda:
        "../../envs/cpu.yaml"
    params:
        seed=config["seed"],
        elastic=config["misalign"]["elastic"],
        spatial_dims=TRANSLATION["spatial_dims"],
    script:
        "../../scripts/misalign.py"


rule pack_pairs:
    input:
        splits=f"{R}/splits.tsv",
        pairs=lambda wildcards: expand(
            f"{R}/misaligned/{{subject}}/level{{level}}/{{file}}.nii.gz",
            subject=subjects_of(wildcards.split),
            level=wildcards.level,
            file=["source", "target", "mask", "field"],
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
    conda:
        "../../envs/cpu.yaml"
    params:
        pair_dirs=lambda wildcards: expand(
            f"{R}/misaligned/{{subject}}/level{{level}}",
            subject=subjects_of(wildcards.split),
            level=wildcards.level,
        ),
        min_foreground=config["preprocess"]["min_foreground"],
        spatial_dims=TRANSLATION["spatial_dims"],
    script:
        "../../scripts/pack_pairs.py"
