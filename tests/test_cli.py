import json

import numpy as np

from radsynth.cli import main
from radsynth.io import read_nifti


def test_phantom_sdf_and_metrics_commands(tmp_path, capsys):
    assert main(["phantom", str(tmp_path), "--subjects", "1", "--shape", "24", "24", "8"]) == 0
    subject = tmp_path / "phantom_000"
    assert {p.name for p in subject.iterdir()} >= {"t1.nii.gz", "t2.nii.gz", "flair.nii.gz", "label.nii.gz"}
    assert main(["sdf", str(subject / "tissue.nii.gz"), str(tmp_path / "sdf.nii.gz"), "--classes", "4"]) == 0
    sdf, _ = read_nifti(tmp_path / "sdf.nii.gz")
    assert sdf.shape == (24, 24, 8, 1) and sdf.min() < 0 < sdf.max()
    capsys.readouterr()
    label = str(subject / "tissue.nii.gz")
    assert main(["seg-metrics", label, label, "--classes", "3"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["dice"] == 1.0 and rows[0]["hd95"] == 0.0
    assert np.isfinite(rows[0]["asd"])
