import pytest
import torch

from radsynth.nets.diffusion import (
    DiffusionSynthesizer,
    build_unet,
    ddim_scheduler,
    ddpm_scheduler,
    scheduler_config,
    unet_config,
)


def tiny_config(image_channels=2):
    return unet_config(image_channels, channels=(8, 16), attention_levels=(False, False), norm_num_groups=8)


def test_unet_takes_image_plus_control_and_predicts_image_channels():
    config = tiny_config(image_channels=2)
    assert config["in_channels"] == 3 and config["out_channels"] == 2
    net = build_unet(config)
    out = net(torch.zeros(2, 3, 16, 16), timesteps=torch.tensor([0, 999]))
    assert out.shape == (2, 2, 16, 16)


def test_unet_config_checks_attention_levels():
    with pytest.raises(ValueError):
        unet_config(1, channels=(8, 16), attention_levels=(False,))


def test_ddim_uses_the_training_schedule():
    config = scheduler_config(100, "linear_beta")
    ddpm, ddim = ddpm_scheduler(config), ddim_scheduler(config, steps=10)
    assert torch.allclose(ddpm.alphas_cumprod, ddim.alphas_cumprod)
    assert len(ddim.timesteps) == 10


def test_synthesizer_rebuilds_from_architecture():
    net = build_unet(tiny_config(1))
    architecture = {
        "unet": tiny_config(1),
        "scheduler": scheduler_config(),
        "conditioning": {"edge_sigma": 1.5, "condition_dropout": 0.1},
    }
    model = DiffusionSynthesizer.from_architecture(architecture, {"unet": net.state_dict()})
    assert model.edge_sigma == 1.5 and model.condition_dropout == 0.1
    for a, b in zip(net.parameters(), model.unet.parameters()):
        assert torch.equal(a, b)
