# DTC signed distance maps, computed once per subject (not inside the training loop).


rule sdf:
    input:
        f"{R}/preprocessed/{{subject}}/label.nii.gz",
    output:
        f"{R}/sdf/{{subject}}.nii.gz",
    log:
        log_path("sdf", "{subject}"),
    benchmark:
        bench_path("sdf", "{subject}")
    conda:
        "../../envs/cpu.yaml"
    params:
        classes=DATASET["classes"],
        # 2D training regresses per-slice SDFs, so they are computed per axial slice.
        slice_axis=2,
    script:
        "../../scripts/sdf.py"
