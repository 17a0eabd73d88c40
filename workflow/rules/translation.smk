# Image translation T1 -> T2: Pix2Pix, CycleGAN and RegGAN modes at each misalignment level.


rule train_translation:
    input:
        pairs=f"{R}/packed/level{{level}}/train.npz",
    output:
        model=f"{R}/models/translation/{{method}}_level{{level}}.pt",
        sidecar=f"{R}/models/translation/{{method}}_level{{level}}.json",
        history=f"{R}/models/translation/{{method}}_level{{level}}.loss.tsv",
    log:
        log_path("train_translation", "{method}_level{level}"),
    benchmark:
        bench_path("train_translation", "{method}_level{level}")
    wildcard_constraints:
        method="|".join(TRANSLATION["methods"]),
        level=r"\d+",
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=TRANSLATION,
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/train_translation.py"


rule evaluate_translation:
    input:
        model=f"{R}/models/translation/{{method}}_level{{level}}.pt",
        test=f"{R}/packed/test.npz",
        misaligned=f"{R}/packed/level{{level}}/test.npz",
    output:
        metrics=f"{R}/metrics/translation/{{method}}_level{{level}}.csv",
        examples=f"{R}/examples/translation/{{method}}_level{{level}}.npz",
    log:
        log_path("evaluate_translation", "{method}_level{level}"),
    benchmark:
        bench_path("evaluate_translation", "{method}_level{level}")
    wildcard_constraints:
        method="|".join(TRANSLATION["methods"]),
        level=r"\d+",
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
