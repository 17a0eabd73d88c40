"""Shapes of the anomaly networks: the noisy classifier, the class-conditional UNet and the
autoencoder baseline."""

import json

import pytest
import torch

from radsynth.anomaly.networks import (
    HEALTHY,
    LESION,
    NULL_CLASS,
    NoisyClassifier,
    autoencoder_config,
    build_autoencoder,
    classifier_config,
    ddpm_config,
)
from radsynth.synthesis.networks import build_unet

CLASSIFIERS = [
    {"channels": (8, 16), "attention_levels": (False, True), "num_head_channels": 8, "norm_num_groups": 8},
    {"channels": (8, 16, 16), "attention_levels": (False, True, True), "num_res_blocks": 2,
     "num_head_channels": 4, "norm_num_groups": 4},
]


def wake(model):
    """Give MONAI's zero-initialised output convolutions weights (at init each residual branch
    returns 0, so the time embedding cannot reach the output)."""
    with torch.no_grad():
        for parameter in model.parameters():
            if not parameter.any():
                parameter.normal_(0, 0.1)
    return model


@pytest.mark.parametrize("size, options", [((32, 32), CLASSIFIERS[0]), ((64, 64), CLASSIFIERS[0]),
                                           ((32, 32), CLASSIFIERS[1]), ((20, 36), CLASSIFIERS[1])])
def test_classifier_gives_two_logits(size, options):
    torch.manual_seed(0)
    config = classifier_config(2, size, **options)
    assert json.loads(json.dumps(config)) == config
    model = wake(NoisyClassifier(**config)).eval()
    x = torch.randn(3, 2, *size)
    with torch.no_grad():
        logits = model(x, torch.tensor([0, 500, 999]))
        again = model(x, torch.tensor([999, 500, 0]))
    assert logits.shape == (3, 2) and torch.isfinite(logits).all()
    assert not torch.allclose(logits[0], again[0])  # the time step enters


def test_classifier_defaults_follow_the_official_levels():
    config = classifier_config(1, (64, 64))
    assert config["channels"] == [32, 64, 64] and config["attention_levels"] == [False, True, True]
    assert NoisyClassifier(**config)(torch.zeros(1, 1, 64, 64), torch.tensor([10])).shape == (1, 2)


def test_ddpm_is_class_conditional_with_a_null_class():
    assert (HEALTHY, LESION, NULL_CLASS) == (0, 1, 2)
    config = ddpm_config(1, channels=(8, 16), attention_levels=(False, True), num_head_channels=8, norm_num_groups=8)
    assert config["num_class_embeds"] == 3
    torch.manual_seed(0)
    unet = wake(build_unet(config))
    x = torch.randn(1, 1, 16, 16).expand(3, -1, -1, -1)
    with torch.no_grad():
        out = unet(x, torch.tensor([1, 1, 1]), class_labels=torch.tensor([HEALTHY, LESION, NULL_CLASS]))
    assert out.shape == x.shape
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[0], out[2])  # the class enters
    with pytest.raises(IndexError):  # only three classes
        unet(x[:1], torch.tensor([1]), class_labels=torch.tensor([3]))


@pytest.mark.parametrize("channels, size", [((8, 16, 16, 16), 64), ((8, 16), 16), ((4, 8, 8), 32)])
def test_autoencoder_keeps_the_shape(channels, size):
    config = autoencoder_config(2, channels)
    assert config["strides"] == [2] * len(channels) and json.loads(json.dumps(config)) == config
    model = build_autoencoder(config)
    x = torch.randn(2, 2, size, size)
    assert model(x).shape == x.shape
