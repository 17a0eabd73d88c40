# Image translation: Pix2Pix, CycleGAN and RegGAN modes, UNIT, MUNIT and NICE-GAN in those modes,
# at each misalignment level, and unpaired.
# Each run is scored on the aligned test slices in the job that trained it: a separate job
# per model cost more in start-up (~4 s of imports) than the scoring itself.


rule train_translation:
    input:
        pairs=translation_pairs,
        val=translation_validation,
        splits=f"{R}/splits.tsv",
        test=aligned("test"),
        misaligned=misaligned_test,
    output:
        model=f"{R}/models/translation/{{method}}_{{setting}}.pt",
        sidecar=f"{R}/models/translation/{{method}}_{{setting}}.json",
        history=f"{R}/models/translation/{{method}}_{{setting}}.loss.tsv",
        validation=f"{R}/models/translation/{{method}}_{{setting}}.val.tsv",
        metrics=f"{R}/metrics/translation/{{method}}_{{setting}}.csv",
        examples=f"{R}/examples/translation/{{method}}_{{setting}}.npz",
    log:
        log_path("train_translation", "{method}_{setting}"),
    benchmark:
        bench_path("train_translation", "{method}_{setting}")
    wildcard_constraints:
        method="pix2pix|cyclegan|nc|c_r|nc_r|(unit|munit|nicegan)(_nc|_c_r|_nc_r)?",
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
