"""DTC training step with precomputed vs per-step SDF targets, and HD95/ASD evaluation cost.

Usage: python benchmarks/segmentation_step.py [--spatial-dims 3] [--patch 48 48 32] [--batch 4]
       [--labelled 2] [--steps 5] [--warmup 2] [--backbone unet] [--channels 16 32 64 128]
       [--device auto] [--threads N]
       [--cases 10] [--metric-shape 112 112 80] [--parts train metrics]

Part 1 times one DTC training step (forward + backward + SGD step of the dual-head segmenter,
Dice + 0.3 SDF-MSE + ramped dual-task consistency) on synthetic ellipsoid labels, twice:
with the SDF targets already on the device (radsynth's ``sdf`` stage) and with the SDFs of the
labelled samples computed on the CPU inside the loop, per sample and per class, then copied
back (the official DTC ``compute_sdf``). It prints ms/step of both and the SDF share.

Part 2 times HD95/ASD on pairs of blobby 3D masks (prediction = reference shifted and
dilated): ``radsynth.segmentation.metrics.segmentation_metrics`` (k-d tree on the surfaces)
and, when importable, medpy's ``hd95``/``asd`` (DTC's evaluation), printing s/case and the
largest absolute difference of the values.

Untrained weights: the cost of a step does not depend on them. On CUDA the forward pass runs
under bf16 autocast, as in training. No timing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import binary_dilation, gaussian_filter
from scipy.ndimage import shift as nd_shift

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled
from radsynth.segmentation.metrics import segmentation_metrics  # noqa: E402
from radsynth.segmentation.networks import build_segmenter  # noqa: E402
from radsynth.segmentation.sdf import label_sdf, signed_distance  # noqa: E402
from radsynth.segmentation.trainer import (  # noqa: E402
    DTC_DEFAULTS,
    consistency_weight,
    dtc_losses,
    one_hot_foreground,
    supervised_loss,
)
from radsynth.training.loop import autocast, pick_device, set_threads  # noqa: E402

DEFAULT_PATCH = {(3, "cuda"): [96, 96, 64], (3, "cpu"): [48, 48, 32],
                 (2, "cuda"): [256, 256], (2, "cpu"): [128, 128]}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["train", "metrics"], choices=["train", "metrics"])
    parser.add_argument("--spatial-dims", type=int, default=3, choices=[2, 3])
    parser.add_argument("--patch", type=int, nargs="+", default=None,
                        help="patch size (default: 96 96 64 on CUDA, 48 48 32 on CPU; 2D: 256/128)")
    parser.add_argument("--batch", type=int, default=4, help="samples per step (DTC: 4)")
    parser.add_argument("--labelled", type=int, default=2, help="labelled samples of the batch (DTC: 2)")
    parser.add_argument("--classes", type=int, default=1, help="foreground classes")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 20 on CUDA, 5 on CPU)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per variant")
    parser.add_argument("--backbone", default="unet", help="build_segmenter backbone name")
    parser.add_argument("--channels", type=int, nargs="+", default=None,
                        help="unet/attention_unet channels per level (default: build_segmenter's 16 32 64 128)")
    parser.add_argument("--features", type=int, default=16, help="backbone output channels")
    parser.add_argument("--cases", type=int, default=10, help="mask pairs for the metric timing")
    parser.add_argument("--metric-shape", type=int, nargs=3, default=[112, 112, 80])
    parser.add_argument("--spacing", type=float, nargs=3, default=[0.625, 0.625, 0.625], help="mm (LA)")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 0 < args.labelled <= args.batch:
        parser.error("--labelled must be in 1..--batch")
    if args.patch is not None and len(args.patch) != args.spatial_dims:
        parser.error(f"--patch needs {args.spatial_dims} sizes")
    return args


def ellipsoid_labels(count, shape, classes, rng) -> np.ndarray:
    """(count, *shape) uint8: per sample and class, a random ellipsoid (later classes overwrite)."""
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij"))
    labels = np.zeros((count, *shape), np.uint8)
    for i in range(count):
        for value in range(1, classes + 1):
            centre = rng.uniform(0.3, 0.7, len(shape)) * shape
            radii = rng.uniform(0.12, 0.3, len(shape)) * shape
            inside = (((grid - centre.reshape(-1, *[1] * len(shape))) / radii.reshape(-1, *[1] * len(shape)))
                      ** 2).sum(0) <= 1
            labels[i][inside] = value
    return labels


def dtc_compute_sdf(labels: np.ndarray, classes: int) -> np.ndarray:
    """The official loop's ``compute_sdf``: per sample, per class, on the CPU -> (B, K, ...)."""
    out = np.zeros((labels.shape[0], classes, *labels.shape[1:]), np.float32)
    for b in range(labels.shape[0]):
        for k in range(classes):
            out[b, k] = signed_distance(labels[b] == k + 1)
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_training(args, device, patch) -> None:
    # Backbone arguments beyond the common ones only when asked for: not every backbone reads them.
    network = {"features": args.features, "backbone": args.backbone}
    if args.channels is not None:
        network.update(channels=args.channels, strides=[2] * (len(args.channels) - 1))
    levels = 4 if args.backbone == "vnet" else len(args.channels or [16, 32, 64, 128]) - 1
    if any(p % 2**levels for p in patch):
        raise SystemExit(f"patch {patch} must be divisible by {2**levels} (the backbone's downsampling)")
    rng = np.random.default_rng(args.seed)
    pool = max(8, 2 * args.batch)
    labels_np = ellipsoid_labels(pool, patch, args.classes, rng)
    images_np = (labels_np[:, None] / max(args.classes, 1) + 0.3 * rng.normal(size=(pool, 1, *patch)))
    sdf_np = np.stack([np.moveaxis(label_sdf(label, range(1, args.classes + 1)), -1, 0) for label in labels_np])
    images = torch.as_tensor(images_np, dtype=torch.float32, device=device)
    labels = torch.as_tensor(labels_np, device=device)
    sdfs = torch.as_tensor(sdf_np, device=device)

    n_lab = args.labelled
    has_target = torch.zeros(args.batch, dtype=torch.bool, device=device)
    has_target[:n_lab] = True
    criterion = supervised_loss("dice")

    def run(variant: str, steps: int, model, optim) -> tuple[float, float]:
        """Seconds of ``steps`` steps and the seconds spent on the SDF inside them."""
        generator = torch.Generator().manual_seed(args.seed)
        sdf_seconds = 0.0
        sync(device)
        start = time.perf_counter()
        for step in range(steps):
            index = torch.randint(pool, (args.batch,), generator=generator).to(device)
            image, label = images[index], labels[index]
            if variant == "precomputed":
                sdf = sdfs[index]
            else:  # DTC: labels of the labelled rows to the CPU, SDF there, back to the device
                t0 = time.perf_counter()
                sdf = torch.zeros(args.batch, args.classes, *patch, device=device)
                sdf[:n_lab] = torch.from_numpy(dtc_compute_sdf(label[:n_lab].cpu().numpy(), args.classes)).to(device)
                sync(device)
                sdf_seconds += time.perf_counter() - t0
            with autocast(device):
                seg, tanh_out = model(image)
            seg, tanh_out = seg.float(), tanh_out.float()
            loss = criterion(seg[:n_lab], one_hot_foreground(label[:n_lab], args.classes))
            sdf_mse, consistency = dtc_losses(seg, tanh_out, sdf, has_target, DTC_DEFAULTS["sharpness"])
            weight = consistency_weight(step, max(steps, 1), DTC_DEFAULTS["consistency"])
            loss = loss + DTC_DEFAULTS["sdf_weight"] * sdf_mse + weight * consistency
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
        sync(device)
        return time.perf_counter() - start, sdf_seconds

    print(f"DTC step: {args.spatial_dims}D patch {'x'.join(map(str, patch))}, batch {args.batch} "
          f"({n_lab} labelled), {args.classes} class(es), backbone {args.backbone}"
          f"{'' if args.channels is None else ' ' + str(args.channels)}, "
          f"{args.steps} steps after {args.warmup} warm-up")
    print(f"{'SDF targets':26s} {'ms/step':>10s} {'SDF ms/step':>12s} {'SDF share':>10s}")
    results = {}
    for variant in ("precomputed", "per-step (DTC)"):
        torch.manual_seed(args.seed)
        try:
            model = build_segmenter(args.spatial_dims, 1, args.classes, **network).to(device)
        except ValueError as error:  # e.g. a backbone this checkout's build_segmenter lacks
            raise SystemExit(f"error: {error}") from None
        model.train()
        optim = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        run(variant, args.warmup, model, optim)
        seconds, sdf_seconds = run(variant, args.steps, model, optim)
        step_ms, sdf_ms = 1000 * seconds / args.steps, 1000 * sdf_seconds / args.steps
        results[variant] = step_ms
        print(f"{variant:26s} {step_ms:10.1f} {sdf_ms:12.1f} {sdf_ms / step_ms:10.1%}", flush=True)
    ratio = results["per-step (DTC)"] / results["precomputed"]
    print(f"per-step / precomputed: {ratio:.2f}x")
    if args.spatial_dims == 3 and list(patch) != [112, 112, 80]:
        # The SDF cost grows with the patch: show it at DTC's LA patch as well (CPU only, no net).
        la = ellipsoid_labels(n_lab, (112, 112, 80), args.classes, rng)
        t0 = time.perf_counter()
        dtc_compute_sdf(la, args.classes)
        print(f"SDF alone, {n_lab} labelled 112x112x80 patches (DTC LA): "
              f"{1000 * (time.perf_counter() - t0):.1f} ms/step")


def blobby_pair(shape, rng) -> tuple[np.ndarray, np.ndarray]:
    """A reference blob (an ellipsoid with a smoothly perturbed surface) and a shifted, dilated copy."""
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij"))
    centre = (rng.uniform(0.4, 0.6, 3) * shape).reshape(3, 1, 1, 1)
    radii = (rng.uniform(0.15, 0.25, 3) * shape).reshape(3, 1, 1, 1)
    level = np.sqrt((((grid - centre) / radii) ** 2).sum(0))
    noise = gaussian_filter(rng.normal(size=shape), 4.0)
    ref = level + 0.25 * noise / noise.std() <= 1
    moved = nd_shift(ref.astype(np.float32), rng.uniform(-3, 3, 3), order=0) > 0.5
    grow = int(rng.integers(0, 3))  # voxels; scipy reads iterations=0 as "until nothing changes"
    pred = binary_dilation(moved, iterations=grow) if grow else moved
    return pred.astype(np.uint8), ref.astype(np.uint8)


def time_metrics(args) -> None:
    rng = np.random.default_rng(args.seed + 1)
    shape = tuple(args.metric_shape)
    pairs = [blobby_pair(shape, rng) for _ in range(args.cases)]
    print(f"\nHD95/ASD: {args.cases} pairs of {'x'.join(map(str, shape))} masks, spacing {args.spacing} mm")
    print(f"{'implementation':30s} {'s/case':>8s} {'mean HD95':>10s} {'mean ASD':>9s}")
    start = time.perf_counter()
    ours = []
    for pred, ref in pairs:
        row = segmentation_metrics(pred, ref, args.spacing, classes=[1])[0]
        ours.append((row["hd95"], row["asd"]))
    seconds = (time.perf_counter() - start) / args.cases
    ours = np.array(ours)
    print(f"{'radsynth (k-d tree)':30s} {seconds:8.3f} {ours[:, 0].mean():10.3f} {ours[:, 1].mean():9.3f}")
    try:
        from medpy.metric.binary import asd, hd95
    except ImportError:
        print("medpy not importable: no comparison")
        return
    start = time.perf_counter()
    theirs = np.array([(hd95(pred, ref, args.spacing), asd(pred, ref, args.spacing)) for pred, ref in pairs])
    seconds_medpy = (time.perf_counter() - start) / args.cases
    print(f"{'medpy hd95 + asd (DTC)':30s} {seconds_medpy:8.3f} {theirs[:, 0].mean():10.3f} "
          f"{theirs[:, 1].mean():9.3f}")
    diff = np.abs(ours - theirs).max(0)
    print(f"max |radsynth - medpy|: HD95 {diff[0]:.2e} mm, ASD {diff[1]:.2e} mm; "
          f"medpy / radsynth time: {seconds_medpy / seconds:.1f}x")


def main(argv=None) -> None:
    args = parse_args(argv)
    set_threads(args.threads)
    device = pick_device(args.device)
    if args.steps is None:
        args.steps = 20 if device.type == "cuda" else 5
    patch = args.patch or DEFAULT_PATCH[(args.spatial_dims, device.type)]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}")
    if "train" in args.parts:
        time_training(args, device, patch)
    if "metrics" in args.parts:
        time_metrics(args)


if __name__ == "__main__":
    main()
