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


# 3D maps for volumetric networks (DTC's V-Net regresses one SDF over the whole patch).
use rule sdf as sdf_volume with:
    output:
        f"{R}/sdf3d/{{subject}}.nii.gz",
    log:
        log_path("sdf_volume", "{subject}"),
    benchmark:
        bench_path("sdf_volume", "{subject}")
    params:
        classes=DATASET["classes"],
        slice_axis=None,
