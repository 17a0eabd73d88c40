import struct

import numpy as np

from radsynth.synthesis.figures import generator_figure


def test_generator_figure(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.zeros((2, 16, 16), np.uint8)
    labels[:, 4:8, 4:8] = 1
    labels[1, 10:12, 10:12] = 2
    samples = {
        "gan": {"image": rng.uniform(-1, 1, (2, 2, 2, 16, 16)), "label": np.repeat(labels[:, None], 2, 1)},
        "ddpm": {"image": rng.uniform(-1, 1, (2, 3, 2, 16, 16)), "label": np.zeros((2, 3, 16, 16), np.uint8)},
        "controlnet": {"image": rng.uniform(-1, 1, (2, 1, 2, 16, 16)), "label": np.repeat(labels[:, None], 1, 1)},
    }
    samples["ddpm"]["label"][:, :, 2:9, 3:7] = 1  # the DDPM's own masks
    prompts = {"controlnet": "an axial T1-weighted brain MRI slice with a glioma"}
    generator_figure(rng.uniform(-1, 1, (2, 2, 16, 16)), labels, samples, ["t1", "t2"], tmp_path / "s.png", prompts)
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # 2 real columns + 2 + 3 + 1 samples, 2 source rows: 1.6 x 1.7 inches a panel at 120 dpi
    width, height = struct.unpack(">II", (tmp_path / "s.png").read_bytes()[16:24])
    assert (width, height) == (round(1.6 * 8 * 120), round(1.7 * 2 * 120))
