"""Sampling throughput (images/s) of the EMIT-Diff generator: DDPM vs DDIM, per image size.

Times ``ControlNetDiffusionInferer.sample`` with untrained networks of the workflow's
architecture (weights do not change the cost): the text-conditioned DiffusionModelUNet, its
ControlNet and the prompt encoder, bf16 autocast on a GPU, a whole batch per call. On a
CPU, ``--max-steps`` times only the first steps of each sampler and extrapolates to the
full count; such rows are marked ``extrapolated``.

Examples:
    python benchmarks/sampling_throughput.py                       # all sizes and samplers
    python benchmarks/sampling_throughput.py --sizes 64 --samplers ddim:20 --batch-size 8 \\
        --max-steps 5 --threads 1                                   # a quick CPU check
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch
from monai.inferers import ControlNetDiffusionInferer

from radsynth.synthesis.networks import (
    PromptEncoder,
    build_controlnet,
    build_unet,
    controlnet_config,
    ddim_scheduler,
    ddpm_scheduler,
    scheduler_config,
    unet_config,
)
from radsynth.synthesis.prompts import MAX_WORDS
from radsynth.training.loop import autocast, pick_device, set_threads


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256], help="image side (px)")
    parser.add_argument(
        "--samplers", nargs="+", default=["ddpm:1000", "ddim:20", "ddim:50"], help="sampler:steps entries"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--channels", type=int, nargs="+", default=[32, 64, 64], help="UNet channels per level")
    parser.add_argument("--attention", type=int, nargs="+", default=None, help="0/1 per level (default: lowest)")
    parser.add_argument("--num-res-blocks", type=int, default=1)
    parser.add_argument("--num-head-channels", type=int, default=None, help="default: 32 or fewer")
    parser.add_argument("--no-flash", action="store_true", help="MONAI's own attention instead of SDPA")
    parser.add_argument("--norm-num-groups", type=int, default=32)
    parser.add_argument("--image-channels", type=int, default=1)
    parser.add_argument("--prompt-dim", type=int, default=64, help="width of the prompt embedding")
    parser.add_argument("--guidance", action="store_true", help="classifier-free guidance (doubles the batch)")
    parser.add_argument("--max-steps", type=int, default=None, help="time at most this many steps; extrapolate")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per setting (the best is kept)")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return parser.parse_args(argv)


def time_sampling(nets, scheduler, inferer, noise, control, context, cfg, timed_steps, device) -> float:
    """Seconds for one ``inferer.sample`` call over the first ``timed_steps`` timesteps."""
    scheduler.timesteps = scheduler.timesteps[:timed_steps]  # the scheduler is rebuilt per run
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.inference_mode(), autocast(device):
        inferer.sample(
            noise, *nets, control, scheduler=scheduler, conditioning=context, mode="crossattn", verbose=False, cfg=cfg
        )
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv=None) -> pd.DataFrame:
    args = parse_args(argv)
    set_threads(args.threads)
    device = pick_device(args.device)
    levels = len(args.channels)
    attention = args.attention or [0] * (levels - 1) + [1]
    config = unet_config(
        args.image_channels,
        channels=args.channels,
        attention_levels=[bool(a) for a in attention],
        num_res_blocks=args.num_res_blocks,
        num_head_channels=args.num_head_channels,
        norm_num_groups=args.norm_num_groups,
        cross_attention_dim=args.prompt_dim,
        use_flash_attention=not args.no_flash,
    )
    unet = build_unet(config).to(device).eval()
    nets = (unet, build_controlnet(controlnet_config(config), unet).to(device).eval())
    encoder = PromptEncoder(args.prompt_dim).to(device).eval()
    schedule = scheduler_config(1000)
    cfg = 3.0 if args.guidance else None
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()}"
    rows = []
    for size in args.sizes:
        shape = (args.batch_size, args.image_channels, size, size)
        noise = torch.randn(shape, device=device)
        control = torch.where(torch.rand(shape[:1] + (1,) + shape[2:], device=device) < 0.1, 1.0, -1.0)
        with torch.inference_mode():
            context = encoder(torch.randint(1, 20, (args.batch_size, MAX_WORDS), device=device))
        for entry in args.samplers:
            kind, steps = entry.split(":")
            steps = int(steps)
            if kind not in ("ddpm", "ddim"):
                raise SystemExit(f"unknown sampler {kind!r} (ddpm or ddim)")
            make = (lambda: ddpm_scheduler(schedule)) if kind == "ddpm" else (lambda: ddim_scheduler(schedule, steps))
            timed = min(steps, args.max_steps or steps)
            inferer = ControlNetDiffusionInferer(make())
            time_sampling(nets, make(), inferer, noise, control, context, cfg, 1, device)  # warm-up (cuDNN, allocator)
            seconds = min(
                time_sampling(nets, make(), inferer, noise, control, context, cfg, timed, device)
                for _ in range(args.repeats)
            )
            full = seconds * steps / timed
            rows.append(
                {
                    "device": name,
                    "size": size,
                    "sampler": kind,
                    "steps": steps,
                    "batch": args.batch_size,
                    "timed_steps": timed,
                    "extrapolated": timed < steps,
                    "seconds_per_batch": round(full, 3),
                    "images_per_second": round(args.batch_size / full, 3),
                }
            )
            row = rows[-1]
            print(
                f"{row['device']}  {size:>4}px  {kind}:{steps:<5} batch {args.batch_size:<3} "
                f"{row['seconds_per_batch']:>10.3f} s/batch  {row['images_per_second']:>9.3f} images/s"
                + ("  (extrapolated)" if row["extrapolated"] else ""),
                flush=True,
            )
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    return table


if __name__ == "__main__":
    main()
