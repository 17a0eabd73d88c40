"""RegGAN's registration network R: radsynth's MONAI U-Net against the official ResUnet.

Usage: python benchmarks/registration_networks.py [--size 64] [--batch 4] [--steps 5] [--repeats 3]
       [--train-iterations 150] [--threads N] [--parts params step smoothness]

params: trainable parameters of R as each scale configures it (the count does not depend on
the image size; the official seven-level ResUnet pads inputs under 256 pixels to 256).
step: ms per NC+R training step (G, D and R, forward + backward + Adam) at ``--size`` with
the quick scale's G and D, for each R, after an untimed warm-up (the fastest of ``--repeats``).
smoothness: NC+R with the U-Net R trained for ``--train-iterations`` on textured blobs
misaligned at level 5, once with the official smoothness loss (forward differences) and once
with MONAI's ``DiffusionLoss`` (central differences, radsynth's loss before the fix); both
losses of each trained R's fields on the training pairs are printed.

No timing is asserted anywhere; figures depend on the machine.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled
import radsynth.translation.step as step  # noqa: E402
from radsynth.translation.misalign import misalign_pair  # noqa: E402
from radsynth.translation.registration import build_registration  # noqa: E402
from radsynth.translation.resunet import OFFICIAL_CHANNELS  # noqa: E402
from radsynth.translation.trainer import train_translation  # noqa: E402
from radsynth.translation.translator import Translator  # noqa: E402

QUICK_G, QUICK_D = {"filters": 8, "residual_blocks": 4}, {"filters": 8, "layers": 3}
VARIANTS = {  # name -> registration config
    "unet, paper scale [32, 64, 64, 64, 64]": {"network": "unet", "channels": [32, 64, 64, 64, 64]},
    "unet, quick scale [16, 32, 32, 32]": {"network": "unet", "channels": [16, 32, 32, 32]},
    "unet, tiny scale [8, 16, 16]": {"network": "unet", "channels": [8, 16, 16]},
    "resunet, official [32, 64 x 6]": {"network": "resunet", "channels": list(OFFICIAL_CHANNELS)},
    "resunet, tiny limit [16 x 7]": {"network": "resunet", "channels": [16] * 7},
    "resunet, quick widths [16, 32, 32, 32]": {"network": "resunet", "channels": [16, 32, 32, 32]},
}


def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def blob_pairs(n: int, size: int, level: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Textured disks (source) and their negatives (target), misaligned at ``level``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    sources, targets = [], []
    for _ in range(n):
        cy, cx = rng.uniform(0.4 * size, 0.6 * size, 2)
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 < rng.uniform(0.2, 0.3) ** 2 * size**2
        texture = gaussian_filter(rng.normal(size=(size, size)), 2.0)
        image = np.where(disk, 0.2 + 0.7 * texture / np.abs(texture).max(), -1.0)
        target = np.where(disk, -0.5 * image, -1.0)
        moved = misalign_pair(image, target, level, rng)
        sources.append(moved.source)
        targets.append(moved.target)
    return np.stack(sources)[:, None].astype(np.float32), np.stack(targets)[:, None].astype(np.float32)


def central_differences(field: torch.Tensor) -> torch.Tensor:
    """radsynth's smoothness before the fix: MONAI DiffusionLoss."""
    from monai.losses import DiffusionLoss

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DiffusionLoss()(field)


def part_params() -> None:
    print("R parameters (independent of the image size):")
    for name, config in VARIANTS.items():
        net = build_registration(spatial_dims=2, in_channels=1, **config)
        print(f"  {name:42s} {count(net):>10,d}")


def part_step(args) -> None:
    source, target = blob_pairs(max(8, 2 * args.batch), args.size, 5)
    print(f"NC+R training step at {args.size}x{args.size}, batch {args.batch}, quick G/D (CPU, "
          f"{torch.get_num_threads()} threads):")
    for name, config in VARIANTS.items():
        if "tiny" in name:
            continue
        common = dict(generator=QUICK_G, discriminator=QUICK_D, registration=config, batch_size=args.batch,
                      device="cpu", log_every=1000, seed=0)
        train_translation(source, target, "nc_r", iterations=2, **common)  # warm-up
        # Loop time only; the fastest of a few runs, as other processes share the CPU.
        seconds = min(train_translation(source, target, "nc_r", iterations=args.steps, **common).seconds
                      for _ in range(args.repeats))
        print(f"  {name:42s} {1000 * seconds / args.steps:8.0f} ms/step")


def part_smoothness(args) -> None:
    source, target = blob_pairs(16, args.size, 5)
    print(f"Smoothness of the U-Net R's fields after {args.train_iterations} NC+R iterations "
          f"({args.size} px, level 5): official forward differences / MONAI central differences")
    official = step.smoothness
    for trained_with, loss in (("official loss", official), ("DiffusionLoss", central_differences)):
        step.smoothness = loss
        try:
            result = train_translation(
                source, target, "nc_r", generator=QUICK_G, discriminator=QUICK_D,
                registration=VARIANTS["unet, quick scale [16, 32, 32, 32]"], iterations=args.train_iterations,
                batch_size=args.batch, lr=5e-4, device="cpu", log_every=1000, seed=0,
            )
        finally:
            step.smoothness = official
        translator = Translator(result.architecture, result.state, "cpu")
        field = torch.from_numpy(translator.register(translator.translate(source), target))
        print(f"  R trained with {trained_with:14s}: forward {official(field).item():.4f}, "
              f"central {central_differences(field).item():.4f}, mean |field| {field.norm(dim=1).mean():.2f} px")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5, help="timed NC+R steps per R and run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per R (the fastest is printed)")
    parser.add_argument("--train-iterations", type=int, default=150)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--parts", nargs="+", default=["params", "step", "smoothness"],
                        choices=["params", "step", "smoothness"])
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if "params" in args.parts:
        part_params()
    if "step" in args.parts:
        part_step(args)
    if "smoothness" in args.parts:
        part_smoothness(args)


if __name__ == "__main__":
    main()
