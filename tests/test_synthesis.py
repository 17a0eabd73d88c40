import numpy as np
import pytest
import torch

from radsynth.nets.diffusion import DiffusionSynthesizer, build_unet, scheduler_config, unet_config
from radsynth.synthesis import control_map, synthesize


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = unet_config(2, channels=(8, 16), attention_levels=(False, False), norm_num_groups=8)
    return DiffusionSynthesizer(build_unet(config), scheduler_config(100), edge_sigma=1.0, condition_dropout=0.1)


@pytest.fixture(scope="module")
def data():
    images = np.full((3, 2, 16, 16), -1.0, np.float32)
    images[:, :, 4:12, 4:12] = 0.5  # a bright square: its outline is an image edge
    labels = np.zeros((3, 16, 16), np.uint8)
    labels[:, 1:4, 1:4] = 1  # the mask sits where the image has no edge
    labels[2] = 0
    return images, labels


def test_control_map_marks_mask_boundary_and_image_edges(data):
    images, labels = data
    control = control_map(images, labels, sigma=1.0)
    assert control.shape == (3, 1, 16, 16) and control.dtype == np.float32
    assert set(np.unique(control)) <= {-1.0, 1.0}
    # mask boundary (inner: on the mask's own pixels), but not the mask's interior
    assert control[0, 0, 1, 1] == 1 and control[0, 0, 1, 3] == 1 and control[0, 0, 2, 2] == -1
    assert control[2, 0, 1, 1] == -1  # no mask on slice 2
    # the square's outline, not its interior nor the far background
    assert (control[:, 0, 3:5, 6:10] == 1).any(axis=(1, 2)).all()
    assert (control[:, 0, 7:9, 7:9] == -1).all() and control[0, 0, 15, 15] == -1


def test_control_map_mask_fill(data):
    images, labels = data
    control = control_map(images, labels, sigma=1.0, mask_fill=0.0)
    assert control[0, 0, 2, 2] == 0.0 and control[0, 0, 1, 1] == 1.0 and control[2, 0, 2, 2] == -1.0


def test_control_map_is_per_slice():
    images = np.full((2, 1, 16, 16), -1.0, np.float32)
    labels = np.zeros((2, 16, 16), np.uint8)
    labels[1, 4:12, 4:12] = 1  # would make the whole square a boundary if slices were linked
    assert (control_map(images, labels, 1.0)[0] == -1).all()


def test_synthesize_shapes_labels_range(model, data):
    images, labels = data
    out = synthesize(model, images, labels, per_mask=2, steps=3, seed=0, batch_size=4, device="cpu")
    assert out["image"].shape == (6, 2, 16, 16) and out["image"].dtype == np.float32
    assert out["image"].min() >= -1 and out["image"].max() <= 1
    assert out["label"].dtype == np.uint8
    np.testing.assert_array_equal(out["source_index"], [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(out["sample"], [0, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(out["label"], labels[out["source_index"]])
    assert len(set(out["seed"].tolist())) == 6


def test_synthesize_is_deterministic_and_batch_independent(model, data):
    images, labels = data
    run = lambda seed, batch: synthesize(model, images, labels, 2, steps=3, seed=seed, batch_size=batch, device="cpu")
    a, b, c = run(7, 4), run(7, 6), run(8, 4)
    np.testing.assert_allclose(a["image"], b["image"], atol=1e-5)
    np.testing.assert_array_equal(a["seed"], b["seed"])
    assert np.abs(a["image"] - c["image"]).max() > 1e-3
    assert np.abs(a["image"][0] - a["image"][1]).max() > 1e-3  # two samples of one mask differ


def test_guidance(model, data):
    images, labels = data
    plain = synthesize(model, images[:1], labels[:1], 1, steps=3, seed=0, guidance_scale=None, device="cpu")
    one = synthesize(model, images[:1], labels[:1], 1, steps=3, seed=0, guidance_scale=1.0, device="cpu")
    guided = synthesize(model, images[:1], labels[:1], 1, steps=3, seed=0, guidance_scale=3.0, device="cpu")
    np.testing.assert_array_equal(plain["image"], one["image"])
    assert guided["image"].shape == plain["image"].shape
    unguided = DiffusionSynthesizer(model.unet, model.scheduler, model.edge_sigma, condition_dropout=0.0)
    with pytest.raises(ValueError):
        synthesize(unguided, images, labels, 1, steps=3, seed=0, guidance_scale=3.0, device="cpu")
