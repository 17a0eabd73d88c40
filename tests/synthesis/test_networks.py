import pytest
import torch

from radsynth.synthesis.networks import (
    PromptEncoder,
    build_controlnet,
    build_unet,
    controlnet_config,
    ddim_scheduler,
    ddpm_scheduler,
    sampling_scheduler,
    scheduler_config,
    unet_config,
)
from radsynth.synthesis.prompts import MAX_WORDS


def tiny_config(image_channels=2, cross_attention_dim=None):
    return unet_config(
        image_channels, channels=(8, 16), attention_levels=(False, True), num_head_channels=8,
        norm_num_groups=8, cross_attention_dim=cross_attention_dim,
    )  # fmt: skip


def test_unconditional_unet_denoises_its_channels():
    config = tiny_config(3)
    assert config["in_channels"] == config["out_channels"] == 3 and not config["with_conditioning"]
    out = build_unet(config)(torch.zeros(2, 3, 16, 16), timesteps=torch.tensor([0, 999]))
    assert out.shape == (2, 3, 16, 16)


def test_text_unet_reads_the_prompt_through_cross_attention():
    torch.manual_seed(0)
    unet, encoder = build_unet(tiny_config(1, cross_attention_dim=16)), PromptEncoder(16)
    for parameter in unet.parameters():  # MONAI zero-initialises output and attention projections
        if not parameter.any():
            torch.nn.init.normal_(parameter, std=0.1)
    x, t = torch.randn(1, 1, 16, 16), torch.tensor([500])
    a = unet(x, t, context=encoder(torch.tensor([[1, 2, 0, 0, 0, 0, 0, 0]])))
    b = unet(x, t, context=encoder(torch.tensor([[3, 4, 0, 0, 0, 0, 0, 0]])))
    assert not torch.allclose(a, b)
    assert encoder(torch.zeros(2, MAX_WORDS, dtype=torch.long)).shape == (2, MAX_WORDS, 16)


def test_unet_config_checks_attention_levels():
    with pytest.raises(ValueError, match="attention_levels has 1 entries, channels 2"):
        unet_config(1, channels=(8, 16), attention_levels=(False,))


def test_controlnet_starts_as_a_copy_of_the_unet_encoder_and_is_silent():
    torch.manual_seed(0)
    unet = build_unet(tiny_config(1, cross_attention_dim=16))
    controlnet = build_controlnet(controlnet_config(tiny_config(1, cross_attention_dim=16)), unet)
    assert torch.equal(controlnet.conv_in.conv.weight, unet.conv_in.conv.weight)
    assert torch.equal(controlnet.down_blocks[0].resnets[0].conv1.conv.weight, unet.down_blocks[0].resnets[0].conv1.conv.weight)
    x, t, context = torch.randn(2, 1, 16, 16), torch.tensor([10, 500]), torch.randn(2, MAX_WORDS, 16)
    down, mid = controlnet(x, t, torch.rand(2, 1, 16, 16), context=context)
    # Zero-initialised outputs: the untrained ControlNet leaves the UNet's prediction unchanged.
    steered = unet(x, t, context=context, down_block_additional_residuals=down, mid_block_additional_residual=mid)
    assert torch.allclose(steered, unet(x, t, context=context))


def test_controlnet_embeds_a_full_size_control_image_for_a_latent_unet():
    config = controlnet_config(tiny_config(3), downsample=4, embedding_channels=8)
    assert config["conditioning_embedding_num_channels"] == [8, 16, 32]
    controlnet = build_controlnet(config)
    down, mid = controlnet(torch.randn(1, 3, 8, 8), torch.tensor([3]), torch.rand(1, 1, 32, 32))
    assert mid.shape[-2:] == (4, 4)
    with pytest.raises(ValueError, match="downsample must be a power of two, not 3"):
        controlnet_config(tiny_config(3), downsample=3)


def test_ddim_uses_the_training_schedule():
    config = scheduler_config(100, "linear_beta")
    ddpm, ddim = ddpm_scheduler(config), ddim_scheduler(config, steps=10)
    assert torch.allclose(ddpm.alphas_cumprod, ddim.alphas_cumprod)
    assert len(ddim.timesteps) == 10
    assert len(sampling_scheduler(config, "ddpm", 100).timesteps) == 100
    with pytest.raises(ValueError, match="sampler must be 'ddim' or 'ddpm', not 'euler'"):
        sampling_scheduler(config, "euler", 10)
