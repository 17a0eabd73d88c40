"""Training throughput of every translation mode on the current device.

Usage: python benchmarks/translation_throughput.py [--size 256] [--batch 1] [--iterations 20]
       [--filters 64] [--blocks 9] [--modes pix2pix cyclegan nc_r] [--threads N]

Prints images/s and milliseconds per step for each mode (CUDA if present, bf16 autocast there),
after a short warm-up run that is not timed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled
from radsynth.training.loop import pick_device  # noqa: E402
from radsynth.translation.modes import MODES
from radsynth.translation.trainer import train_translation  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="square image size (pixels)")
    parser.add_argument("--batch", type=int, default=1, help="pairs per step (RegGAN: 1)")
    parser.add_argument("--iterations", type=int, default=20, help="timed steps per mode")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per mode")
    parser.add_argument("--filters", type=int, default=64, help="generator filters")
    parser.add_argument("--blocks", type=int, default=9, help="generator residual blocks")
    parser.add_argument("--disc-filters", type=int, default=None, help="discriminator filters (default: --filters)")
    parser.add_argument("--reg-channels", type=int, nargs="+", default=[32, 64, 64, 64], help="R U-Net channels")
    parser.add_argument("--modes", nargs="+", default=sorted(MODES), choices=sorted(MODES))
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    rng = np.random.default_rng(0)
    count = max(16, 4 * args.batch)
    source = rng.uniform(-1, 1, (count, 1, args.size, args.size)).astype(np.float32)
    target = rng.uniform(-1, 1, (count, 1, args.size, args.size)).astype(np.float32)
    networks = {
        "generator": {"filters": args.filters, "residual_blocks": args.blocks},
        "discriminator": {"filters": args.disc_filters or args.filters, "layers": 3},
        "registration": {"channels": args.reg_channels},
    }
    print(f"device: {name}; {args.size}x{args.size}, batch {args.batch}, "
          f"generator {args.filters} filters / {args.blocks} blocks")
    print(f"{'mode':10s} {'images/s':>10s} {'ms/step':>10s}")
    for mode in args.modes:
        for iterations in (args.warmup, args.iterations):  # the first run only warms up
            result = train_translation(
                source, target, mode, **networks, iterations=iterations, batch_size=args.batch,
                device=device, log_every=max(iterations, 1), desc=mode,
            )
        step_ms = 1000.0 * result.seconds / args.iterations
        print(f"{mode:10s} {result.images_per_second:10.1f} {step_ms:10.1f}", flush=True)


if __name__ == "__main__":
    main()
