import json

import numpy as np
import pytest

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


def test_verify_lists_every_bad_subject(tmp_path, capsys):
    import yaml

    from tests.workflow.test_bad_input import _subject

    root = tmp_path / "data"
    _subject(root, "good")
    _subject(root, "bad_missing", skip=("t2",))
    label = np.zeros((20, 18, 6), np.uint8)
    label[0, 0, 0] = 9
    _subject(root, "bad_label", label=label)
    config = tmp_path / "data.yaml"
    config.write_text(yaml.safe_dump({"dataset": {
        "kind": "nifti", "root": str(root), "channels": ["t1", "t2"],
        "patterns": {"t1": "*_t1.nii.gz", "t2": "*_t2.nii.gz", "label": "*_seg.nii.gz"}}}))
    assert main(["verify", str(config)]) == 1
    out = capsys.readouterr().out
    assert "bad_missing: " in out and "no file matches '*_t2.nii.gz'" in out
    assert "bad_label: " in out and "label values [9]" in out
    assert "1 of 3 subjects passed" in out
    with pytest.raises(SystemExit, match="dataset folder not found"):
        config.write_text(yaml.safe_dump({"dataset": {"kind": "nifti", "root": str(tmp_path / "nope"),
                                                      "channels": ["t1"], "patterns": {"t1": "*", "label": "*"}}}))
        main(["verify", str(config)])
