# DTC signed distance maps, computed once per subject (not inside the training loop), a batch
# of subjects per job: every subject its preprocess batch prepared.


rule sdf:
    input:
        f"{R}/records/preprocess/{{batch}}.json",
    output:
        f"{R}/records/sdf/{{batch}}.json",
    log:
        log_path("sdf", "{batch}"),
    benchmark:
        bench_path("sdf", "{batch}")
    priority: PRIORITY["data"]
    conda:
        "../../envs/cpu.yaml"
    threads: BATCH_THREADS
    params:
        preprocessed=f"{R}/preprocessed",
        folder=f"{R}/sdf",
        classes=DATASET["classes"],
        # 2D training regresses per-slice SDFs, so they are computed per axial slice.
        slice_axis=2,
    script:
        "../../scripts/sdf.py"


# 3D maps for volumetric networks (DTC's V-Net regresses one SDF over the whole patch).
use rule sdf as sdf_volume with:
    output:
        f"{R}/records/sdf3d/{{batch}}.json",
    log:
        log_path("sdf_volume", "{batch}"),
    benchmark:
        bench_path("sdf_volume", "{batch}")
    params:
        preprocessed=f"{R}/preprocessed",
        folder=f"{R}/sdf3d",
        classes=DATASET["classes"],
        slice_axis=None,
