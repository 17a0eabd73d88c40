"""DeepStack: nnU-Net's default data augmentation built from MONAI transforms.

The "DeepStack" baseline of EMIT-Diff is the stack nnU-Net applies by default (nnU-Net v2
``nnUNetTrainer.get_training_transforms``). In nnU-Net's order, each drawn per sample:

=============================  ========  ======================  ===============================
transform                      p         range                   MONAI transform
=============================  ========  ======================  ===============================
rotation                       0.2       2D +-180 deg,           ``RandAffined`` (rotation and
                                         3D +-30 deg per axis    scaling share one resample)
scaling, isotropic             0.2       0.7-1.4                 ``RandAffined``
Gaussian noise                 0.1       std 0-0.1               ``RandGaussianNoise``
Gaussian blur                  0.2x0.5   sigma 0.5-1 per axis    ``RandGaussianSmooth``
multiplicative brightness      0.15      0.75-1.25               ``RandScaleIntensity``
contrast (about the mean,      0.15      0.75-1.25               ``RandScaleIntensityFixedMean``
range preserved)
simulate low resolution        0.25x0.5  zoom 0.5-1              ``RandSimulateLowResolution``
gamma of the inverted image    0.1       0.7-1.5                 ``RandAdjustContrast``
gamma                          0.3       0.7-1.5                 ``RandAdjustContrast``
mirroring                      0.5       each spatial axis       ``RandFlipd``
=============================  ========  ======================  ===============================

Geometry moves the image (bilinear), the label (nearest: classes and dtype kept) and the SDF
(bilinear, border padding) together; new border pixels are background (-1, class 0).
Intensity transforms run on the ``(image + 1) / 2`` scale, where background is 0, so the
blur's zero padding, the brightness factor and gamma leave background at -1; the result is
clamped to [-1, 1]. Noise (std on the [-1, 1] scale; batchgenerators uses its
"noise_variance" as the std) and contrast below 1 do move the background, as in nnU-Net.

Differences from nnU-Net: factors that nnU-Net draws half below and half above 1
(BGContrast) are uniform here; gamma does not restore mean and std (``p_retain_stats=1``),
which would lift the background off -1; the per-channel probability 0.5 of blur and low
resolution is folded into p (exact for single-channel images; channels share a draw);
low resolution upsamples linearly from a nearest-exact downsampling, as nnU-Net v2. The 2D
rotation range is nnU-Net's for patches with aspect ratio <= 1.5; anisotropic 3D patches
(nnU-Net's in-plane "dummy 2D" augmentation) are not special-cased.

Cost: MONAI's array transforms take one sample, so a batch is a Python loop over B samples
through 11 transforms (about 3 ms per 2D sample, 48 x 48 to 128 x 128, on one CPU thread).
Tensors stay on their device, except the noise, which NumPy draws on the CPU. The batched
:class:`~radsynth.augment.classic.ClassicAugmentation` is far cheaper for large batches.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from monai.transforms import (
    RandAdjustContrast,
    RandAffined,
    RandFlipd,
    RandGaussianNoise,
    RandGaussianSmooth,
    RandScaleIntensity,
    RandScaleIntensityFixedMean,
    RandSimulateLowResolution,
)
from monai.transforms.spatial.array import RandAffineGrid
from monai.utils import convert_to_tensor

from radsynth.training.resume import numpy_state, set_numpy_state

KEYS = ("image", "label", "sdf")
P_ROTATION, P_SCALING = 0.2, 0.2
#: Probability that rotation, scaling or both are on: that of the shared resample.
P_AFFINE = 1 - (1 - P_ROTATION) * (1 - P_SCALING)
SCALING = (0.7, 1.4)


class _RotateScaleGrid(RandAffineGrid):
    """nnU-Net's rotation and isotropic scaling, each with its own probability.

    MONAI's own grid draws one scale factor per axis, and ``RandAffined`` one coin for the
    whole affine. Here the owning ``RandAffined`` fires with :data:`P_AFFINE` and, given that
    it fired, this grid draws which of the two are on from their conditional law: the joint
    law is nnU-Net's, both share one resample, and samples with neither are not resampled.

    Args:
        spatial_dims: 2 (one in-plane angle) or 3 (an angle about each axis).
    """

    def __init__(self, spatial_dims: int):
        super().__init__()
        self.spatial_dims = spatial_dims
        self.max_angle = math.pi if spatial_dims == 2 else math.pi / 6

    def randomize(self, data=None) -> None:
        """Draw the angles and the factor of one sample (identity for the part that is off)."""
        rotate = self.R.rand() < P_ROTATION / P_AFFINE
        scale = not rotate or self.R.rand() < P_SCALING
        angles = 1 if self.spatial_dims == 2 else 3
        limit = self.max_angle if rotate else 0.0
        self.rotate_params = [self.R.uniform(-limit, limit) for _ in range(angles)]
        # One factor for every axis: nnU-Net's p_synchronize_scaling_across_axes=1.
        factor = self.R.uniform(*SCALING) if scale else 1.0
        self.scale_params = [factor] * self.spatial_dims
        self.shear_params, self.translate_params = [], []


class DeepStack:
    """A callable that augments ``(image, label[, sdf])`` batches with nnU-Net's default stack.

    Args:
        seed: seed of the one ``numpy.random.RandomState`` shared by every transform.
        spatial_dims: 2 for (B, C, H, W) batches, 3 for (B, C, H, W, D).
    """

    def __init__(self, seed: int = 0, spatial_dims: int = 2):
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        self.spatial_dims = spatial_dims
        self._spatial = RandAffined(
            KEYS,
            prob=P_AFFINE,
            mode=("bilinear", "nearest", "bilinear"),
            padding_mode=("zeros", "zeros", "border"),
            allow_missing_keys=True,
        )
        self._spatial.rand_affine.rand_affine_grid = _RotateScaleGrid(spatial_dims)
        sigma = (0.5, 1.0)
        linear = "bilinear" if spatial_dims == 2 else "trilinear"
        self._intensity = [
            # std drawn in [0, 0.05] on the [0, 1] scale, i.e. nnU-Net's [0, 0.1] on [-1, 1].
            RandGaussianNoise(prob=0.1, std=0.05),
            RandGaussianSmooth(sigma, sigma, sigma, prob=0.2 * 0.5),
            RandScaleIntensity((-0.25, 0.25), prob=0.15, channel_wise=True),
            RandScaleIntensityFixedMean(
                prob=0.15, factors=(-0.25, 0.25), preserve_range=True, channel_wise=True
            ),
            RandSimulateLowResolution(
                prob=0.25 * 0.5,
                downsample_mode="nearest-exact",
                upsample_mode=linear,
                zoom_range=(0.5, 1.0),
            ),
            RandAdjustContrast(prob=0.1, gamma=(0.7, 1.5), invert_image=True),
            RandAdjustContrast(prob=0.3, gamma=(0.7, 1.5)),
        ]
        self._mirror = [
            RandFlipd(KEYS, prob=0.5, spatial_axis=axis, allow_missing_keys=True)
            for axis in range(spatial_dims)
        ]
        # One generator for the whole stack: a seed fixes every draw of a run.
        self._rng = np.random.RandomState(seed)
        for transform in (self._spatial, *self._intensity, *self._mirror):
            transform.set_random_state(state=self._rng)

    def state_dict(self) -> dict:
        """The shared generator's position (for resumable training)."""
        return {"rng": numpy_state(self._rng)}

    def load_state_dict(self, state: dict) -> None:
        set_numpy_state(self._rng, state["rng"])

    def __call__(
        self,
        image: torch.Tensor,
        label: torch.Tensor | None = None,
        sdf: torch.Tensor | None = None,
    ):
        """Augment a batch, one sample at a time.

        Args:
            image: (B, C, *spatial) float, in [-1, 1] with background -1.
            label: (B, *spatial) integer classes, or None (unlabelled batch).
            sdf: (B, K, *spatial) signed-distance targets that follow the geometry, or None.

        Returns:
            ``(image, label)``, or ``(image, label, sdf)`` when ``sdf`` is given; the image
            stays in [-1, 1] and keeps its dtype, the label its dtype and classes.
        """
        if image.ndim != self.spatial_dims + 2:
            raise ValueError(
                f"expected a (B, C, {self.spatial_dims} spatial axes) batch, "
                f"got shape {tuple(image.shape)}"
            )
        # Build the sampling grid where the batch lives instead of on the CPU.
        self._spatial.rand_affine.rand_affine_grid.device = image.device
        samples = []
        for i in range(image.shape[0]):
            data = {"image": (image[i].float() + 1) / 2}
            if label is not None:
                data["label"] = label[i][None]
            if sdf is not None:
                data["sdf"] = sdf[i]
            data = self._spatial(data)
            for transform in self._intensity:
                data["image"] = transform(data["image"])
            for transform in self._mirror:
                data = transform(data)
            samples.append(
                {k: convert_to_tensor(v, track_meta=False) for k, v in data.items()}
            )
        out_image = torch.stack([s["image"] for s in samples]).clamp(0, 1) * 2 - 1
        out = [out_image.to(image.dtype), None]
        if label is not None:
            out[1] = torch.cat([s["label"] for s in samples]).round().to(label.dtype)
        if sdf is not None:
            out.append(torch.stack([s["sdf"] for s in samples]).to(sdf.dtype))
        return tuple(out)
