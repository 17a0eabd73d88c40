import numpy as np
import pytest
import torch

from radsynth.io import InputError, save_checkpoint
from radsynth.synthesis.gan import MaskGANGenerator, mask_inputs
from radsynth.synthesis.mask_gan_trainer import train_mask_gan

TINY = {
    "generator": {"filters": 8, "residual_blocks": 1},
    "discriminator": {"filters": 8, "layers": 2},
}


def discs(n=6, size=32, seed=0):
    """A grey square with a disc whose class (1 or 2) sets its brightness; label = the disc."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = np.full((n, 1, size, size), -1.0, np.float32)
    images[:, :, 3:-3, 3:-3] = -0.2
    labels = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        cy, cx = rng.integers(9, size - 9, 2)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= 20
        labels[i][disc] = 1 + i % 2
        images[i, 0][disc] = 0.3 if i % 2 == 0 else 0.9
    return images, labels


def train(iterations=4, **kwargs):
    torch.set_num_threads(1)
    images, labels = discs()
    options = dict(
        classes=2,
        iterations=iterations,
        batch_size=4,
        seed=0,
        device="cpu",
        log_every=2,
        **TINY,
    )
    return train_mask_gan(images, labels, **{**options, **kwargs})


@pytest.fixture(scope="module")
def trained():
    return train(noise_channels=2)


def test_mask_inputs():
    labels = torch.tensor([[[0, 1], [2, 0]], [[1, 1], [0, 2]]])
    noise = torch.randn(2, 3, 2, 2)
    x = mask_inputs(labels, 2, noise)
    assert x.shape == (2, 3 + 3, 2, 2)
    one_hot = x[:, :3]
    assert set(one_hot.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(one_hot.argmax(1), labels)
    assert torch.equal(((one_hot + 1) / 2).sum(1), torch.ones(2, 2, 2))
    assert torch.equal(x[:, 3:], noise)


def test_mask_inputs_put_the_control_map_between_mask_and_noise():
    labels = torch.tensor([[[0, 1], [1, 0]]])
    noise, control = torch.randn(1, 2, 2, 2), torch.tensor([[[[1.0, 0.0], [0.0, -1.0]]]])
    x = mask_inputs(labels, 1, noise, control)
    assert x.shape == (1, 2 + 1 + 2, 2, 2)
    assert torch.equal(x[:, 1], labels * 2.0 - 1) and torch.equal(x[:, 2:3], control) and torch.equal(x[:, 3:], noise)


CONTROL = {"edge_sigma": 1.0, "mask_fill": 0.0}


def test_a_control_gan_is_given_the_edges_of_the_real_slice():
    gan = train(noise_channels=1, control=CONTROL)
    arch = gan.architecture
    assert arch["generator"]["in_channels"] == 3 + 1 + 1 and arch["discriminator"]["in_channels"] == 3 + 1 + 1
    images, labels = discs(2)
    model = gan.generator()
    plain = model.sample(images, labels, per_mask=1, seed=0)
    moved = images.copy()
    moved[:, :, 3:-3, 3:-3] = -1.0  # the same masks, another anatomy: the grey square is gone
    assert np.abs(model.sample(moved, labels, per_mask=1, seed=0)["image"] - plain["image"]).max() > 1e-3
    # a mask-only GAN ignores the slice
    mask_only = train(noise_channels=1).generator()
    np.testing.assert_array_equal(mask_only.sample(moved, labels, 1)["image"], mask_only.sample(images, labels, 1)["image"])


def test_a_control_gan_learns_to_draw_each_class_at_its_brightness():
    images, labels = discs(8)
    gan = train(iterations=300, noise_channels=1, control=CONTROL, lr=1e-3)
    out = gan.generator().sample(images, labels, per_mask=1, seed=0)["image"][:, 0]
    # the discs' brightness (0.3 for class 1, 0.9 for class 2) drawn inside each mask
    for klass, brightness in ((1, 0.3), (2, 0.9)):
        assert abs(out[labels == klass].mean() - brightness) < 0.15, klass
    assert abs(out[(labels == 0) & (images[:, 0] > -0.5)].mean() - (-0.2)) < 0.15


def test_training_changes_both_networks_and_logs(trained):
    # lr 0: the initial weights of the same seed.
    before = train(lr=0.0, noise_channels=2).state
    for name in ("generator", "discriminator"):
        assert any(
            not torch.equal(before[name][k], trained.state[name][k])
            for k in before[name]
        )
    history = trained.history
    assert list(history["iteration"]) == [2, 4]
    assert {"g_adv", "g_l1", "g_total", "d"} <= set(history.columns)
    assert np.isfinite(history.drop(columns="iteration").to_numpy()).all()
    assert trained.images_per_second > 0
    arch = trained.architecture
    assert (
        arch["generator"]["in_channels"] == 3 + 2
        and arch["generator"]["out_channels"] == 1
    )
    assert arch["discriminator"]["in_channels"] == 3 + 1
    sizes = (arch["classes"], arch["noise_channels"], arch["image_channels"])
    assert sizes == (2, 2, 1)


def test_same_seed_same_states(trained):
    again = train(noise_channels=2).state
    for name, state in trained.state.items():
        assert all(torch.equal(state[k], again[name][k]) for k in state)


def test_sample_shapes_labels_and_order(trained):
    _, labels = discs(3)
    out = trained.generator().sample(None, labels, per_mask=2, seed=5)
    assert out["image"].shape == (6, 1, 32, 32) and out["image"].dtype == np.float32
    assert out["image"].min() >= -1 and out["image"].max() <= 1
    assert out["label"].dtype == np.uint8
    np.testing.assert_array_equal(out["label"], np.repeat(labels, 2, axis=0))
    np.testing.assert_array_equal(out["source_index"], [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(out["sample"], [0, 1, 0, 1, 0, 1])
    assert len(np.unique(out["seed"])) == 6
    # The K samples of one mask differ (the noise channels), beyond rounding.
    assert np.abs(out["image"][0] - out["image"][1]).max() > 1e-4


def test_sample_independent_of_batch_size(trained):
    _, labels = discs(3)
    model = trained.generator()
    one = model.sample(None, labels, per_mask=3, seed=1, batch_size=1)
    five = model.sample(None, labels, per_mask=3, seed=1, batch_size=5)
    for key in one:  # oneDNN picks convolution algorithms by batch size: equal up to rounding
        np.testing.assert_allclose(one[key], five[key], atol=1e-5)


def test_checkpoint_round_trip(trained, tmp_path):
    path = tmp_path / "gan.pt"
    save_checkpoint(
        path, trained.state, {"generator": "gan", "architecture": trained.architecture}
    )
    _, labels = discs(2)
    loaded = MaskGANGenerator.from_checkpoint(path, device="cpu").sample(None, labels, per_mask=2, seed=3
    )
    direct = trained.generator().sample(None, labels, per_mask=2, seed=3)
    for key in direct:
        np.testing.assert_array_equal(loaded[key], direct[key])


def test_from_checkpoint_refuses_other_generators(trained, tmp_path):
    path = tmp_path / "ddpm.pt"
    save_checkpoint(
        path, trained.state, {"generator": "ddpm", "architecture": trained.architecture}
    )
    with pytest.raises(InputError, match="not a mask GAN"):
        MaskGANGenerator.from_checkpoint(path, device="cpu")
