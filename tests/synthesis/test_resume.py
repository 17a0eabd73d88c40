"""Resumable generative training: a run stopped part-way and run again ends with the weights and
loss history of an uninterrupted run (CPU, one thread: bit for bit)."""

import contextlib
import functools
import itertools
import os
import signal

import numpy as np
import pandas as pd
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from radsynth.synthesis.autoencoder_trainer import train_autoencoder
from radsynth.synthesis.controlnet_trainer import train_controlnet
from radsynth.synthesis.diffusion_trainer import train_ddpm
from radsynth.synthesis.mask_gan_trainer import train_mask_gan
from radsynth.training.resume import Preempted, Resume
from tests.synthesis import test_autoencoder_trainer as test_autoencoder
from tests.synthesis import test_diffusion_trainer as test_diffusion
from tests.synthesis import test_mask_gan_trainer as test_mask_gan

CPU = dict(batch_size=4, seed=0, device="cpu", log_every=2)


class Crash(Exception):
    """A job killed outright: only the periodic saves survive."""


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)
    handler = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, handler)  # a preempted run does not put the old one back


@contextlib.contextmanager
def stop_at(call: int, how: str):
    """Stop the run at the ``call``-th optimiser step (of any optimiser), in the middle of an
    iteration: by SIGTERM to this process, or by a crash."""
    calls = itertools.count(1)

    def hook(optimizer, args, kwargs):
        if next(calls) == call:
            if how == "crash":
                raise Crash
            os.kill(os.getpid(), signal.SIGTERM)

    handle = register_optimizer_step_post_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def ddpm_text(resume):
    images, _ = test_diffusion.disks()
    options = dict(tokens=test_diffusion.prompts(), unet=test_diffusion.TINY, prompt_dim=16, iterations=5)
    return train_ddpm(images, **options, resume=resume, **CPU)


def ddpm_plain(resume):
    images, labels = test_diffusion.disks()
    joint = np.concatenate([images, labels[:, None] * 2.0 - 1], axis=1)
    options = dict(unet=test_diffusion.TINY, ema_decay=0.9, lr_schedule="cosine", iterations=5)
    return train_ddpm(joint, **options, resume=resume, **CPU)


@functools.cache
def base():
    images, _ = test_diffusion.disks()
    options = dict(tokens=test_diffusion.prompts(), unet=test_diffusion.TINY, prompt_dim=16, iterations=1)
    return train_ddpm(images, **options, **CPU)


def controlnet(resume):
    images, labels = test_diffusion.disks()
    frozen, options = base(), dict(tokens=test_diffusion.prompts(), lr_schedule="cosine", iterations=4)
    return train_controlnet(images, labels, frozen.state, frozen.architecture, **options, resume=resume, **CPU)


def mask_gan(resume):
    images, labels = test_mask_gan.discs()
    return train_mask_gan(images, labels, classes=2, iterations=5, resume=resume, **test_mask_gan.TINY, **CPU)


def autoencoder(resume):
    images = test_autoencoder.blobs(8, size=32)
    options = dict(network=test_autoencoder.TINY, adversarial_weight=0.1, adversarial_start=2, iterations=5)
    return train_autoencoder(images, **options, resume=resume, **CPU)


# (train, save every, optimiser step call that stops the run, how, step the re-run resumes from)
CASES = {
    "ddpm_text": (ddpm_text, 2, 3, "sigterm", 3),
    "ddpm_plain_ema": (ddpm_plain, 3, 5, "crash", 3),
    "controlnet": (controlnet, 3, 2, "sigterm", 2),
    # Two optimisers: call 7 is step 4's generator; step 3 is saved with half a history row.
    "mask_gan": (mask_gan, 3, 7, "crash", 3),
    # One optimiser for 2 warm-up steps, then two: call 4 is step 3's discriminator.
    "autoencoder": (autoencoder, 2, 4, "sigterm", 3),
}


@pytest.mark.parametrize("case", list(CASES))
def test_stopped_run_resumes_to_the_same_weights(case, tmp_path):
    train, every, call, how, resumed_at = CASES[case]
    reference = train(None)

    path = tmp_path / "resume.pt"
    expected = (Crash, None) if how == "crash" else (Preempted, "^143$")  # Crash carries no message
    with stop_at(call, how), pytest.raises(expected[0], match=expected[1]) as stopped:
        train(Resume(path, every, fingerprint=case))
    assert how == "crash" or stopped.value.code == 143
    assert path.exists()

    resume = Resume(path, every, fingerprint=case)
    resumed = train(resume)
    assert resume.resumed_from == resumed_at
    assert not path.exists()  # a finished run drops its state
    assert resumed.state.keys() == reference.state.keys()
    for net, weights in reference.state.items():
        assert resumed.state[net].keys() == weights.keys()
        assert all(torch.equal(resumed.state[net][k], v) for k, v in weights.items()), net
    pd.testing.assert_frame_equal(resumed.history, reference.history)
