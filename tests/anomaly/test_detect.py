"""Counterfactual methods, the sweep and the choice of its best settings, on a tiny untrained
model whose noise prediction is exactly zero (MONAI zero-initialises the UNet's output)."""

import numpy as np
import pandas as pd
import pytest
import torch

from radsynth.anomaly.ddim import ddim_decode, ddim_encode
from radsynth.anomaly.detect import METHODS, Detector, choose, counterfactuals, sweep
from radsynth.anomaly.networks import (
    NoisyClassifier,
    autoencoder_config,
    build_autoencoder,
    classifier_config,
    ddpm_config,
)
from radsynth.synthesis.networks import build_unet, scheduler_config

SQUARE = (slice(5, 9), slice(6, 10))
TINY = {"channels": (8, 16), "attention_levels": (False, True), "num_head_channels": 8, "norm_num_groups": 8}


@pytest.fixture(scope="module")
def detector():
    torch.manual_seed(0)
    return Detector(build_unet(ddpm_config(1, **TINY)), scheduler_config(1000, "linear_beta"), steps=10,
                    classifier=NoisyClassifier(**classifier_config(1, (16, 16), **TINY)),
                    autoencoder=build_autoencoder(autoencoder_config(1, (8, 16))), batch_size=3)


def slices(n=4, seed=0):
    """Slices in [-0.9, 0.9] with a bright square (the lesion) in all but the last."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(-0.9, -0.3, (n, 1, 16, 16)).astype(np.float32)
    masks = np.zeros((n, 16, 16), np.uint8)
    masks[:-1, SQUARE[0], SQUARE[1]] = 1
    images[:, 0][masks > 0] = 0.9
    return images, masks


def test_choose_takes_the_best_row_per_method():
    table = pd.DataFrame([
        {"method": "guided", "noise_level": 200, "scale": 10.0, "auroc": 0.70, "dice": 0.9},
        {"method": "guided", "noise_level": 500, "scale": 100.0, "auroc": 0.85, "dice": 0.1},
        {"method": "unguided", "noise_level": 200, "scale": 0.0, "auroc": 0.60, "dice": 0.2},
        {"method": "guided", "noise_level": 300, "scale": 1.0, "auroc": 0.80, "dice": 0.3},
        {"method": "unguided", "noise_level": 500, "scale": 0.0, "auroc": 0.65, "dice": 0.4},
        {"method": "classifier_free", "noise_level": 400, "scale": 3.0, "auroc": 0.75, "dice": 0.5},
        {"method": "classifier_free", "noise_level": 100, "scale": 1.0, "auroc": 0.75, "dice": 0.6},
    ])
    assert choose(table) == {
        "guided": {"noise_level": 500, "scale": 100.0},
        "unguided": {"noise_level": 500, "scale": 0.0},
        "classifier_free": {"noise_level": 400, "scale": 3.0},  # the first of a tie
    }
    assert choose(table, "dice")["guided"] == {"noise_level": 200, "scale": 10.0}
    assert choose(table, "dice")["classifier_free"] == {"noise_level": 100, "scale": 1.0}


def test_sweep_needs_a_lesion_slice(detector):
    images, masks = slices()
    with pytest.raises(ValueError, match="the val split has no lesion slice: the sweep cannot score L and s"):
        sweep(detector, images, np.zeros_like(masks), {"unguided": {"noise_levels": [300], "scales": [0.0]}})


def test_counterfactuals_of_every_method(detector):
    images, _ = slices(5)  # two batches of 3 and 2
    settings = {method: {"noise_level": 300, "scale": 5.0} for method in METHODS}
    out = counterfactuals(detector, images, settings)
    assert set(out) == set(METHODS)
    for method, counterfactual in out.items():
        assert counterfactual.shape == images.shape, method
        assert counterfactual.dtype == np.float32 and np.isfinite(counterfactual).all(), method
    # A zero noise prediction encodes x to sqrt(a) x and decodes it back to x exactly (with
    # or without the null class); the classifier's gradient moves the guided result off it.
    np.testing.assert_allclose(out["unguided"], images, atol=1e-5)
    np.testing.assert_allclose(out["classifier_free"], images, atol=1e-5)
    assert np.abs(out["guided"] - images).max() > 1e-4
    assert np.abs(out["autoencoder"]).max() <= 1.0


class SquareClassifier(torch.nn.Module):
    """Logits [healthy, lesion] = [0, 4 * mean of the lesion square]: its guidance darkens the
    square alone."""

    def forward(self, x, t):
        lesion = 4 * x[:, :, SQUARE[0], SQUARE[1]].mean(dim=(1, 2, 3))
        return torch.stack([torch.zeros_like(lesion), lesion], dim=1)


def test_sweep_scores_every_setting():
    # With a zero noise prediction the unguided counterfactual is the image, and the guided one
    # differs from it on the square alone: a perfect map (Dice, AUROC and AUPRC 1).
    torch.manual_seed(0)
    detector = Detector(build_unet(ddpm_config(1, **TINY)), scheduler_config(1000, "linear_beta"), steps=10,
                        classifier=SquareClassifier())
    images, masks = slices(4)
    grid = {"unguided": {"noise_levels": [300, 200], "scales": [0.0]},
            "guided": {"noise_levels": [300], "scales": [1.0, 10.0]}}
    encoded = []
    encode = detector.encode
    detector.encode = lambda x, level: encoded.append(len(x)) or encode(x, level)
    table = sweep(detector, images, masks, grid)
    assert encoded == [3, 3]  # once per noise level, the lesion slices only
    assert list(table.columns) == ["method", "noise_level", "scale", "dice", "auroc", "auprc"]
    assert set(map(tuple, table[["method", "noise_level", "scale"]].to_numpy().tolist())) == {
        ("unguided", 300, 0.0), ("unguided", 200, 0.0), ("guided", 300, 1.0), ("guided", 300, 10.0)}
    guided = table[table.method == "guided"]
    assert np.allclose(guided[["dice", "auroc", "auprc"]].to_numpy(), 1.0)
    counterfactual = counterfactuals(detector, images, {"guided": {"noise_level": 300, "scale": 10.0}})["guided"]
    square = np.zeros((16, 16), bool)
    square[SQUARE] = True  # where the classifier looks, in the healthy slice too
    np.testing.assert_allclose(counterfactual[:, 0][:, ~square], images[:, 0][:, ~square], atol=1e-5)
    assert (counterfactual[:, 0][:, square] < images[:, 0][:, square] - 1e-3).all()  # darker: towards healthy


def test_unknown_method_and_missing_models(detector):
    images, _ = slices(2)
    encoded = detector.encode(images, 300)
    with pytest.raises(ValueError, match="unknown DDPM method 'autoencoder'"):
        detector.decode(encoded, 300, "autoencoder", 1.0)
    bare = Detector(detector.models["ddpm"], scheduler_config(1000, "linear_beta"), steps=10)
    with pytest.raises(ValueError, match="the guided method needs the trained classifier"):
        bare.decode(encoded, 300, "guided", 1.0)
    with pytest.raises(ValueError, match="the autoencoder method needs the trained autoencoder"):
        bare.reconstruct(images)


class ClassScaledNoise(torch.nn.Module):
    """A noise predictor eps = 0.1 (class + 1) x: healthy 0.1 x, lesion 0.2 x, null 0.3 x."""

    def forward(self, x, t, class_labels):
        return 0.1 * (class_labels.float() + 1).view(-1, 1, 1, 1) * x


def test_classifier_free_mixes_null_and_healthy():
    # eps_null + w (eps_healthy - eps_null) = (0.3 - 0.2 w) x, decoded from the healthy-class
    # encoding; guided with s = 0 is the unguided healthy decode.
    detector = Detector(ClassScaledNoise(), scheduler_config(1000, "linear_beta"), steps=10)
    images, _ = slices(3)
    encoded = detector.encode(images, 300)
    timesteps, ab = [99, 199, 299], detector.alphas
    x = torch.as_tensor(images)
    np.testing.assert_allclose(encoded[0].numpy(), ddim_encode(lambda x, t: 0.1 * x, x, timesteps, ab).numpy())
    for w in (0.0, 1.0, 3.0):
        expected = ddim_decode(lambda x, t: (0.3 - 0.2 * w) * x, encoded[0], timesteps, ab).numpy()
        np.testing.assert_allclose(detector.decode(encoded, 300, "classifier_free", w), expected, atol=1e-6)
    unguided = ddim_decode(lambda x, t: 0.1 * x, encoded[0], timesteps, ab).numpy()
    np.testing.assert_allclose(detector.decode(encoded, 300, "unguided", 5.0), unguided, atol=1e-6)
    np.testing.assert_allclose(detector.decode(encoded, 300, "guided", 0.0), unguided, atol=1e-6)
    assert np.abs(detector.decode(encoded, 300, "classifier_free", 3.0) - unguided).max() > 1e-3
