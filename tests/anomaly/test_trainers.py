"""The three anomaly trainers learn their toy tasks, and refuse what they cannot train."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from radsynth.anomaly.networks import (
    NoisyClassifier,
    autoencoder_config,
    build_autoencoder,
    classifier_config,
    ddpm_config,
)
from radsynth.anomaly.trainers import train_anomaly_ddpm, train_autoencoder, train_classifier
from radsynth.synthesis.networks import build_unet, ddpm_scheduler, scheduler_config

SCHEDULE = scheduler_config(1000, "linear_beta")
CLASSIFIER = classifier_config(1, (16, 16), channels=(8, 16), attention_levels=(False, True), num_head_channels=8,
                               norm_num_groups=8)
UNET = ddpm_config(1, channels=(8, 16), attention_levels=(False, True), num_head_channels=8, norm_num_groups=8)


def squares(n, seed, size=16):
    """Dark noisy slices, every other one (label 1) with a bright 4 x 4 square somewhere."""
    rng = np.random.default_rng(seed)
    images = (-0.6 + 0.1 * rng.standard_normal((n, 1, size, size))).astype(np.float32)
    labels = rng.permutation(np.arange(n) % 2)
    for i in np.flatnonzero(labels):
        r, c = rng.integers(1, size - 5, 2)
        images[i, 0, r:r + 4, c:c + 4] = 0.8
    return images, labels


def disks(n, seed, size=16):
    """'Healthy' slices: one blurred disk of random place and size, in [-0.8, 0.8]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = np.empty((n, 1, size, size), np.float32)
    for i in range(n):
        cy, cx = rng.uniform(5, 11, 2)
        radius = rng.uniform(3, 6)
        disk = ((yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2).astype(np.float32)
        images[i, 0] = 1.6 * gaussian_filter(disk, 1.0) - 0.8
    return images


def accuracy(model, images, labels, seed=5):
    """Accuracy on ``images`` noised to a t drawn from 0..50 of the training schedule."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(images)
    t = torch.randint(0, 51, (len(x),), generator=generator)
    noisy = ddpm_scheduler(SCHEDULE).add_noise(x, torch.randn(x.shape, generator=generator), t)
    with torch.no_grad():
        return float((model.eval()(noisy, t).argmax(1).numpy() == labels).mean())


def test_classifier_learns_bright_squares():
    torch.manual_seed(0)
    images, labels = squares(64, seed=0)
    trained = train_classifier(images, labels, architecture=CLASSIFIER, scheduler_config=SCHEDULE, iterations=60,
                               batch_size=16, lr=1e-3, seed=0, device="cpu")
    assert list(trained.history.columns) == ["iteration", "loss", "accuracy"]
    assert trained.history["iteration"].tolist() == [10, 20, 30, 40, 50, 60]
    model = NoisyClassifier(**CLASSIFIER)
    fresh, fresh_labels = squares(200, seed=1)  # new squares at new places
    assert abs(accuracy(model, fresh, fresh_labels) - 0.5) < 0.15  # untrained: chance
    model.load_state_dict(trained.state)
    assert accuracy(model, fresh, fresh_labels) >= 0.9


def test_classifier_refuses_a_single_class_split():
    images, _ = squares(8, seed=0)
    with pytest.raises(ValueError, match="needs healthy and lesion slices; the training split lacks one class"):
        train_classifier(images, np.zeros(8, np.int64), architecture=CLASSIFIER, scheduler_config=SCHEDULE,
                         iterations=1, device="cpu")
    with pytest.raises(ValueError, match="lacks one class"):
        train_classifier(images, np.ones(8, np.int64), architecture=CLASSIFIER, scheduler_config=SCHEDULE,
                         iterations=1, device="cpu")


def test_autoencoder_reconstructs_unseen_healthy_slices():
    # Held-out mean absolute error: trained < 0.6 x that of the training mean image (the best
    # constant answer is no better than it), and far below the untrained network's.
    torch.manual_seed(0)
    train, held_out = disks(64, seed=0), disks(16, seed=1)
    config = autoencoder_config(1, (8, 16))
    untrained = build_autoencoder(config).eval()
    trained = train_autoencoder(train, architecture=config, iterations=150, batch_size=16, lr=1e-2, seed=0,
                                device="cpu")
    model = build_autoencoder(config).eval()
    model.load_state_dict(trained.state)
    with torch.no_grad():
        error = np.abs(model(torch.as_tensor(held_out)).numpy() - held_out).mean()
        untrained_error = np.abs(untrained(torch.as_tensor(held_out)).numpy() - held_out).mean()
    mean_image_error = np.abs(train.mean(axis=0) - held_out).mean()
    assert error < 0.6 * mean_image_error
    assert error < 0.5 * untrained_error
    assert trained.history["loss"].iloc[-1] < trained.history["loss"].iloc[0]


def test_anomaly_ddpm_loss_falls():
    torch.manual_seed(0)
    images, labels = squares(32, seed=2)
    trained = train_anomaly_ddpm(images, labels, architecture={"unet": UNET, "scheduler": SCHEDULE}, iterations=40,
                                 batch_size=16, lr=3e-3, seed=0, device="cpu")
    losses = trained.history["loss"].tolist()
    assert len(losses) == 4 and losses[0] > losses[-1]
    assert losses[-1] < 0.5 * losses[0]
    assert trained.state["class_embedding.weight"].shape[0] == 3  # healthy, lesion, null
    assert trained.images_per_second > 0


@pytest.mark.parametrize("dropout, labels, trained_rows", [(0.0, 0, {0}), (0.0, None, {0, 1}), (1.0, None, {2})])
def test_anomaly_ddpm_trains_the_classes_it_is_shown(dropout, labels, trained_rows):
    # A class embedding row that no batch uses gets zero gradients, so Adam leaves it as built
    # (the weights are built right after seeding with the run's seed).
    images, squares_labels = squares(8, seed=3)
    labels = squares_labels if labels is None else np.full(8, labels)
    torch.manual_seed(0)
    initial = build_unet(UNET).state_dict()["class_embedding.weight"]
    trained = train_anomaly_ddpm(images, labels, architecture={"unet": UNET, "scheduler": SCHEDULE}, iterations=3,
                                 batch_size=8, label_dropout=dropout, seed=0, device="cpu")
    final = trained.state["class_embedding.weight"]
    changed = {row for row in range(3) if not torch.equal(final[row], initial[row])}
    assert changed == trained_rows


def test_anomaly_ddpm_refuses_other_predictions():
    images, labels = squares(8, seed=0)
    for prediction in ("v_prediction", "sample"):
        with pytest.raises(ValueError, match=r"predicts epsilon \(guidance shifts the predicted noise\)"):
            train_anomaly_ddpm(images, labels, iterations=1, device="cpu", architecture={
                "unet": UNET, "scheduler": scheduler_config(1000, "linear_beta", prediction_type=prediction)})
