import numpy as np
import pytest
import torch

from radsynth.recon.evaluate import Reconstructor
from radsynth.recon.kspace import masks_for, simulate_complex, zero_filled
from radsynth.recon.metrics import psnr
from radsynth.recon.networks import architecture_for, build_network
from radsynth.recon.trainers import train_recon


def rectangles(n, size=32, seed=0):
    """Bright rectangles on a dark field: aliasing smears their edges along the rows."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size))
    for image in images:
        for _ in range(3):
            top, left = rng.integers(2, size - 12, 2)
            image[top:top + rng.integers(4, 10), left:left + rng.integers(4, 10)] = rng.uniform(0.5, 1.0)
    return simulate_complex(images, np.arange(n) + seed * 1000)


def test_supervised_unet_learns_to_undo_the_aliasing():
    torch.manual_seed(0)
    settings = {"features": [8, 8, 16, 16, 32, 8]}
    architecture = architecture_for("unet", settings)
    result = train_recon("unet", rectangles(48), architecture=architecture, iterations=150, batch_size=8, lr=3e-3,
                         accelerations=[4], seed=0, device="cpu")
    model = build_network("unet", architecture)
    model.load_state_dict(result.state)
    model.eval()
    test = torch.as_tensor(rectangles(6, seed=1))
    mask = masks_for(6, 32, 4, range(6))
    measured, image_zf = zero_filled(test, mask)
    run = Reconstructor({"unet": model}, {}, torch.Generator())
    target = np.hypot(test[:, 0].numpy(), test[:, 1].numpy())
    learned = run("unet", measured, image_zf, mask)[0].numpy()
    baseline = run("zero_filled", measured, image_zf, mask)[0].numpy()
    gain = np.mean([psnr(t, p) - psnr(t, b) for t, p, b in zip(target, learned, baseline)])
    assert gain > 1.0, f"the U-Net gains only {gain:.2f} dB over zero-filling"


def test_unknown_network_is_refused():
    with pytest.raises(ValueError, match="unknown reconstruction network 'varnet'"):
        train_recon("varnet", rectangles(2), architecture={}, iterations=1)


def test_the_baseline_takes_slices_of_any_size():
    from radsynth.recon.networks import baseline_config

    model = build_network("unet", baseline_config([4, 4, 4, 4, 4, 4]))
    for shape in ((16, 16), (40, 24)):
        x = torch.rand(2, 1, *shape)
        out = model(x)
        assert out.shape == x.shape
        # zero-padding: a correction that is zero everywhere leaves the zero-filled image
        with torch.no_grad():
            for p in model.unet.parameters():
                p.zero_()
        assert torch.equal(model(x), x)
