"""Test-split evaluation of a translation model: image metrics per slice (2D) or volume (3D),
and for +R modes the endpoint error of the learned registration against the stored
ground-truth field."""

from __future__ import annotations

import numpy as np
import pandas as pd

from radsynth.translation.translator import Translator


def _channel(test: dict, name: str) -> int:
    channels = [str(c) for c in test["channels"]]
    if name not in channels:
        raise ValueError(f"channel {name!r} is not in the packed test split (channels: {channels})")
    return channels.index(name)


def _cases(data: dict) -> list[str]:
    """"subject:slice" for packed slices, "subject" for packed volumes."""
    if "slice" not in data:
        return [str(subject) for subject in data["subject"]]
    return [f"{subject}:{int(index)}" for subject, index in zip(data["subject"], data["slice"])]


def _middle_planes(figure: dict) -> dict:
    """3D examples cut to their middle plane along the last axis, so figures stay 2D; fields
    keep their two in-plane components."""
    planes = {}
    for name, array in figure.items():
        if name in ("field", "true_field"):
            planes[name] = array[:, :2, ..., array.shape[-1] // 2]
        elif name.endswith("case"):
            planes[name] = array
        else:
            planes[name] = array[..., array.shape[-1] // 2]
    return planes


def _example_indices(mask: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` slices with the most foreground, in their original order."""
    area = mask.reshape(len(mask), -1).sum(axis=1)
    return np.sort(np.argsort(-area, kind="stable")[:count])


def evaluate_translation(
    translator: Translator,
    test: dict,
    misaligned_test: dict | None,
    source_channel: str,
    target_channel: str,
    method: str,
    setting: str,
    batch_size: int = 16,
    examples: int = 4,
) -> tuple[pd.DataFrame, dict]:
    """Per-case metrics of a translator on the test split, in long form.

    A case is a slice for a 2D model and a whole volume for a 3D one (SSIM then uses a
    7x7x7 window, EPE the three field components).

    Args:
        translator: a trained model (:func:`radsynth.translation.translator.load_translator`).
        test: arrays of ``packed/test.npz`` (image, channels, mask, subject, slice) or, for
            3D, of ``packed/volumes/test.npz`` (no slice).
        misaligned_test: arrays of ``packed/level<L>/test.npz`` (source, target, field, mask,
            subject[, slice]), used for the registration metrics of +R modes; may be None.
        source_channel, target_channel: channel names to translate from and to.
        method, setting: written to the ``method`` and ``setting`` columns.
        batch_size: slices per forward pass.
        examples: slices kept for figures.

    Returns:
        ``(frame, examples)``: the frame has columns case ("subject:slice"), method, setting,
        metric, value, with metrics mae, psnr, ssim on the aligned test slices and, for +R
        modes with ``misaligned_test``, epe (learned field vs truth, pixels, mean over the
        mask) and epe_identity (the truth's own magnitude: the do-nothing baseline).
        ``examples`` maps names to float32 arrays of the chosen slices (for 3D, the middle
        plane of the chosen volumes): case, source, target, output (K, H, W) and, for +R,
        moved_case, moved_source, moved_target, moved_output (G(moved source)), registered
        (moved_output warped by R's field) (K, H, W), field and true_field (K, 2, H, W).
    """
    # Imported here: the metric modules are the stage's dependencies, not the trainer's.
    from radsynth.translation.metrics import translation_metrics

    image = np.asarray(test["image"], dtype=np.float32)
    source = image[:, [_channel(test, source_channel)]]
    target = image[:, [_channel(test, target_channel)]]
    mask = np.asarray(test["mask"]).astype(bool)
    output = translator.translate(source, batch_size=batch_size)

    rows = []
    for case, out, ref, m in zip(_cases(test), output[:, 0], target[:, 0], mask):
        for metric, value in translation_metrics(out, ref, m).items():
            rows.append((case, metric, float(value)))
    keep = _example_indices(mask, examples)
    figure = {
        "case": np.asarray(_cases(test))[keep],
        "source": source[keep, 0],
        "target": target[keep, 0],
        "output": output[keep, 0],
    }

    if translator.has_registration and misaligned_test is not None:
        rows += _registration_rows(translator, misaligned_test, batch_size, examples, figure)

    frame = pd.DataFrame(rows, columns=["case", "metric", "value"])
    frame.insert(1, "method", method)
    frame.insert(2, "setting", setting)
    return frame, (_middle_planes(figure) if image.ndim == 5 else figure)


def _registration_rows(translator: Translator, data: dict, batch_size: int, examples: int, figure: dict) -> list:
    """epe / epe_identity rows of R(G(moved source), moved target); adds figure arrays."""
    from radsynth.translation.metrics import endpoint_error

    moved_source = np.asarray(data["source"], dtype=np.float32)
    moved_target = np.asarray(data["target"], dtype=np.float32)
    truth = np.asarray(data["field"], dtype=np.float32)
    mask = np.asarray(data["mask"]).astype(bool)
    moved_output = translator.translate(moved_source, batch_size=batch_size)
    field = translator.register(moved_output, moved_target, batch_size=batch_size)

    rows = []
    zero = np.zeros_like(truth[0])
    for case, learned, true, m in zip(_cases(data), field, truth, mask):
        rows.append((case, "epe", float(endpoint_error(learned, true, m))))
        rows.append((case, "epe_identity", float(endpoint_error(zero, true, m))))

    keep = _example_indices(mask, examples)
    registered = translator.warp(moved_output[keep], field[keep], batch_size=batch_size)
    figure.update(
        moved_case=np.asarray(_cases(data))[keep],
        moved_source=moved_source[keep, 0],
        moved_target=moved_target[keep, 0],
        moved_output=moved_output[keep, 0],
        registered=registered[:, 0],
        field=field[keep],
        true_field=truth[keep],
    )
    return rows
