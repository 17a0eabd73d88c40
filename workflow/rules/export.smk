# Export to nnU-Net v2 raw format: the prepared dataset, and its training set with synthetic pairs.


rule export_nnunet:
    input:
        splits=f"{R}/splits.tsv",
        prepared=lambda wildcards: records(
            "preprocess",
            pack_subjects("train") + pack_subjects("val") + pack_subjects("test"),
        ),
    output:
        directory(nnunet_dir()),
    log:
        log_path("export_nnunet"),
    benchmark:
        bench_path("export_nnunet")
    conda:
        "../../envs/cpu.yaml"
    params:
        preprocessed=f"{R}/preprocessed",
        channels=DATASET["channels"],
        classes=DATASET["classes"],
        description=f"radsynth dataset {DATASET['name']} ({DATASET['kind']})",
    script:
        "../../scripts/export_nnunet.py"


use rule export_nnunet as export_nnunet_synthetic with:
    input:
        splits=f"{R}/splits.tsv",
        prepared=lambda wildcards: records(
            "preprocess",
            pack_subjects("train") + pack_subjects("val") + pack_subjects("test"),
        ),
        synthetic=lambda wildcards: f"{R}/synthetic/train/{export_generator()}.npz",
    output:
        directory(nnunet_dir(synthetic=True)),
    log:
        log_path("export_nnunet_synthetic"),
    benchmark:
        bench_path("export_nnunet_synthetic")
    params:
        preprocessed=f"{R}/preprocessed",
        # the synthetic images have the segmentation's channels only
        channels=SEGMENTATION["channels"],
        classes=DATASET["classes"],
        description=f"radsynth dataset {DATASET['name']} with synthetic pairs",
