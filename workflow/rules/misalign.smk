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
    params:
        seed=config["seed"],
    wildcard_constraints:
        level=r"\d+",
    log:
        log_path("misalign", "{subject}_level{level}"),
    benchmark:
        bench_path("misalign", "{subject}_level{level}")
    conda:
        "../../envs/cpu.yaml"
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
    params:
        pair_dirs=lambda wildcards: expand(
            f"{R}/misaligned/{{subject}}/level{{level}}",
            subject=subjects_of(wildcards.split),
            level=wildcards.level,
        ),
        min_foreground=config["preprocess"]["min_foreground"],
    wildcard_constraints:
        split="train|val|test",
        level=r"\d+",
    log:
        log_path("pack_pairs", "level{level}_{split}"),
    benchmark:
        bench_path("pack_pairs", "level{level}_{split}")
    conda:
        "../../envs/cpu.yaml"
    script:
        "../../scripts/pack_pairs.py"
