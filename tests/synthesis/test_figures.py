import struct

import numpy as np
from matplotlib.colors import to_rgb

from radsynth.report.figures import LABEL_COLOURS, radiological
from radsynth.synthesis.figures import generator_figure
from tests.report.drawn import assert_shows, colours, panels, saved_figure, shown


def red_cells(panel, shape):
    """The bounding box, in cells of an image of ``shape``, of the panel's red pixels (class 1's
    contour colour, anti-aliased over gray: red well above green and blue; class 2's yellow and
    the gray images are not)."""
    rows, cols = np.nonzero(panel[..., 0] - panel[..., 1:].max(-1) > 0.3)
    scale = np.array(shape) / panel.shape[:2]
    return (rows.min() * scale[0], rows.max() * scale[0], cols.min() * scale[1], cols.max() * scale[1])


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
    real = rng.uniform(-1, 1, (2, 2, 16, 16))
    figure = saved_figure(generator_figure, real, labels, samples, ["t1", "t2"], tmp_path / "s.png", prompts)
    # 2 real columns + 2 + 3 + 1 samples, 2 source rows: 1.6 x 1.7 inches a panel at 120 dpi
    width, height = struct.unpack(">II", (tmp_path / "s.png").read_bytes()[16:24])
    assert (width, height) == (round(1.6 * 8 * 120), round(1.7 * 2 * 120))
    shown_panels = panels(tmp_path / "s.png", figure)
    assert len(shown_panels) == 2 * 8
    columns = [(g, k) for g, s in samples.items() for k in range(s["image"].shape[1])]
    for row in range(2):
        image_panel, mask_panel, *sample_panels = shown_panels[8 * row : 8 * row + 8]
        assert_shows(image_panel, real[row, 0])  # the first channel
        # The real mask over the image: each class's colour at alpha 0.45, the image elsewhere.
        gray = colours(real[row, 0])
        tint = np.array([to_rgb("black")] + [to_rgb(c) for c in LABEL_COLOURS])[radiological(labels[row])]
        expected = np.where(radiological(labels[row])[..., None] > 0, 0.55 * gray + 0.45 * tint, gray)
        np.testing.assert_allclose(shown(mask_panel, (16, 16)), expected, atol=0.02)
        for panel, (generator, k) in zip(sample_panels, columns):
            assert_shows(panel, samples[generator]["image"][row, k, 0])
            # Each sample's own label outlined where it lies (class 1 in red): the contour runs
            # along the outer edges of the label's cells.
            own = radiological(samples[generator]["label"][row, k] == 1)
            rows, cols = np.nonzero(own)
            top, bottom, left, right = red_cells(panel, (16, 16))
            assert abs(top - rows.min()) < 0.6 and abs(bottom - rows.max() - 1) < 0.6
            assert abs(left - cols.min()) < 0.6 and abs(right - cols.max() - 1) < 0.6
