# Image translation: Pix2Pix, CycleGAN and RegGAN modes at each misalignment level, and unpaired.


rule train_translation:
    input:
        pairs=translation_pairs,
        val=translation_validation,
        splits=f"{R}/splits.tsv",
    output:
        model=f"{R}/models/translation/{{method}}_{{setting}}.pt",
        sidecar=f"{R}/models/translation/{{method}}_{{setting}}.json",
        history=f"{R}/models/translation/{{method}}_{{setting}}.loss.tsv",
        validation=f"{R}/models/translation/{{method}}_{{setting}}.val.tsv",
    log:
        log_path("train_translation", "{method}_{setting}"),
    benchmark:
        bench_path("train_translation", "{method}_{setting}")
    wildcard_constraints:
        method="pix2pix|cyclegan|nc|c_r|nc_r",
        setting=r"level\d+|unpaired",
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=TRANSLATION,
        misalign=config["misalign"],
        seed=config["seed"],
        device=config["device"],
        resume=resume_path("train_translation", "{method}_{setting}"),
        resume_every=config["resume_every"],
    script:
        "../../scripts/train_translation.py"


rule evaluate_translation:
    input:
        model=f"{R}/models/translation/{{method}}_{{setting}}.pt",
        test=aligned("test"),
        misaligned=misaligned_test,
        splits=f"{R}/splits.tsv",
    output:
        metrics=f"{R}/metrics/translation/{{method}}_{{setting}}.csv",
        examples=f"{R}/examples/translation/{{method}}_{{setting}}.npz",
    log:
        log_path("evaluate_translation", "{method}_{setting}"),
    benchmark:
        bench_path("evaluate_translation", "{method}_{setting}")
    wildcard_constraints:
        method="pix2pix|cyclegan|nc|c_r|nc_r",
        setting=r"level\d+|unpaired",
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        source=TRANSLATION["source"],
        target=TRANSLATION["target"],
        device=config["device"],
    script:
        "../../scripts/evaluate_translation.py"
