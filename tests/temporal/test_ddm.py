import numpy as np
import pytest
import torch

from radsynth.temporal.ddm import DDM, RegistrationLoss, ddm_loss, ddpm_schedule
from radsynth.temporal.networks import code_unet_config, field_config, warp
from radsynth.temporal.phantom import cine_subject


def small_ddm(anchored=True):
    return DDM(code_unet_config(2, [8, 16], [False, False], 1, 8, 4), field_config(2, [8, 16, 16, 16], 16, [8, 8]), anchored)


def test_warp_of_a_known_field_moves_the_image_by_it():
    image = torch.zeros(1, 1, 16, 16)
    image[0, 0, 5:9, 4:7] = 1.0
    field = torch.zeros(1, 2, 16, 16)
    field[:, 0] = 2.0  # rows: each output pixel samples the image two rows further down
    field[:, 1] = -3.0  # columns: three columns to the left
    moved = warp(2)(image, field)
    expected = np.zeros((16, 16))
    expected[3:7, 7:10] = 1.0  # content moves up by 2 and right by 3
    assert np.allclose(moved[0, 0].numpy(), expected, atol=1e-5)
    labels = torch.zeros(1, 1, 16, 16)
    labels[0, 0, 5:9, 4:7] = 3
    half = torch.full((1, 2, 16, 16), 0.6)  # nearest neighbour keeps label values whole
    assert set(warp(2, "nearest")(labels, half).unique().tolist()) == {0.0, 3.0}


def test_gamma_zero_gives_the_source_exactly_and_one_the_full_field():
    torch.manual_seed(0)
    model = small_ddm().eval()
    cine = cine_subject(0, 1, size=32, frames=4)
    source, target = (torch.as_tensor(cine.frames[k][None, None]) for k in (0, -1))
    with torch.no_grad():
        for net in (model.field_net, model.code_unet):  # both end in near-zero layers when new
            torch.nn.init.normal_([m for m in net.modules() if isinstance(m, torch.nn.Conv2d)][-1].weight, 0, 0.1)
        frames, fields = model.frames(source, target, [0.0, 0.5, 1.0])
        code = model.code(source, target, target * 2 - 1, torch.zeros(1, dtype=torch.long))
        full = model.field_net(source, code) - model.field_net(source, torch.zeros_like(code))
    assert torch.equal(fields[:, 0], torch.zeros_like(fields[:, 0]))
    assert torch.allclose(frames[:, 0], source, atol=1e-6)  # S o identity = S
    assert torch.allclose(fields[:, 2], full, atol=1e-6)
    assert torch.allclose(frames[:, 2], warp(2)(source, full), atol=1e-6)
    assert fields[:, 2].abs().max() > 1e-3  # a real field, not zero
    official = small_ddm(anchored=False).eval()
    official.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.nn.init.normal_([m for m in official.field_net.modules() if isinstance(m, torch.nn.Conv2d)][-1].bias, 0, 0.5)
        assert official.frames(source, target, [0.0])[1].abs().max() > 0.1  # the official's gamma 0 moves S


def squared_local_ncc(a: np.ndarray, b: np.ndarray, window: int) -> float:
    """-mean of cross² / (var_a var_b) over window x window boxes (zero padding), by loops."""
    pad = window // 2
    a_p, b_p = np.pad(a, pad), np.pad(b, pad)
    n = window * window
    values = []
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            x, y = a_p[i:i + window, j:j + window], b_p[i:i + window, j:j + window]
            cross = (x * y).sum() - x.sum() * y.sum() / n
            var_x = max((x * x).sum() - x.sum() ** 2 / n, 1e-5)
            var_y = max((y * y).sum() - y.sum() ** 2 / n, 1e-5)
            values.append(cross * cross / (var_x * var_y))
    return -float(np.mean(values))


def test_registration_ncc_is_the_officials_squared_local_ncc():
    rng = np.random.default_rng(0)
    a, b = rng.random((12, 12)), rng.random((12, 12))
    ncc, smooth = RegistrationLoss(2, window=9)(torch.as_tensor(a[None, None]), torch.as_tensor(b[None, None]),
                                                torch.zeros(1, 2, 12, 12))
    assert float(ncc) == pytest.approx(squared_local_ncc(a, b, 9), rel=1e-4)
    assert float(smooth) == 0.0
    field = torch.zeros(1, 2, 12, 12)
    field[0, 0] = torch.arange(12.0)[:, None] * 0.5  # component 0 rises 0.5 per row
    smooth = RegistrationLoss(2)(torch.as_tensor(a[None, None]), torch.as_tensor(a[None, None]), field)[1]
    # the official: the mean over axes of mean squared gradients over both components,
    # ((0.25 + 0) / 2 [rows] + 0 [columns]) / 2
    assert float(smooth) == pytest.approx(0.0625, rel=1e-5)


def test_ddm_loss_combines_the_three_terms_with_the_weight():
    torch.manual_seed(0)
    model = small_ddm()
    cine = cine_subject(0, 2, size=32, frames=3)
    source, target = (torch.as_tensor(cine.frames[k][None, None]) for k in (0, -1))
    loss, terms = ddm_loss(model, source, target, ddpm_schedule(), RegistrationLoss(2), 20.0, torch.Generator().manual_seed(0))
    assert float(loss.detach()) == pytest.approx(terms["eps"] + 20.0 * (terms["ncc"] + terms["smooth"]), rel=1e-5)


def lv_dice(labels: np.ndarray, truth: np.ndarray) -> float:
    a, b = labels == 3, truth == 3  # LV
    return 2 * (a & b).sum() / (a.sum() + b.sum())


@pytest.mark.parametrize("kind", ["ddm", "registration"])
def test_training_recovers_the_contraction(kind):
    # Four phantom cines at 32 px: after a short training the ED labels carried by the field at
    # gamma = 1 cover the ES cavity, which the untouched ED labels do not (the LV shrinks by
    # 25-40 % of its radius), and gamma = 0.5 lands in between.
    from radsynth.temporal.evaluate import carried_labels
    from radsynth.temporal.trainers import train_temporal
    from radsynth.temporal.ddm import Registration

    cines = [cine_subject(3, i, size=32, frames=3) for i in range(4)]
    sources = np.stack([c.frames[0][None] for c in cines]).astype(np.float32)
    targets = np.stack([c.frames[-1][None] for c in cines]).astype(np.float32)
    field = field_config(2, [8, 16, 16, 16], 16, [8, 8])
    architecture = {"field": field}
    if kind == "ddm":
        architecture.update(code=code_unet_config(2, [8, 16], [False, False], 1, 8, 4), anchored=True)
    result = train_temporal(kind, sources, targets, architecture=architecture, iterations=150, batch_size=4, lr=2e-3)
    model = (DDM(architecture["code"], field, True) if kind == "ddm" else Registration(field)).eval()
    model.load_state_dict(result.state)
    before, after, half = [], [], []
    for cine in cines:
        source, target = (torch.as_tensor(cine.frames[k][None, None]) for k in (0, -1))
        _, fields = model.frames(source, target, [0.0, 0.5, 1.0])
        carried = carried_labels(torch.as_tensor(cine.labels[0][None, None].astype(np.int64)), fields)[0, :, 0].numpy()
        before.append(lv_dice(cine.labels[0], cine.labels[-1]))
        after.append(lv_dice(carried[2], cine.labels[-1]))
        half.append(lv_dice(carried[1], cine.labels[1]))  # the middle frame's own labels
    assert np.mean(before) < 0.8 and np.mean(after) > np.mean(before) + 0.1, (before, after)
    assert np.mean(half) > 0.8, half


def test_ddm_trains_and_generates_in_3d():
    from radsynth.temporal.trainers import train_temporal

    cine = cine_subject(0, 0, size=16, frames=3, depth=8)
    assert cine.frames.shape == (3, 16, 16, 8)
    pair = [cine.frames[k][None, None].astype(np.float32) for k in (0, -1)]
    architecture = {"code": code_unet_config(3, [8, 8], [False, False], 1, 8, 4),
                    "field": field_config(3, [8, 8, 8, 8], 8, [8]), "anchored": True}
    result = train_temporal("ddm", *pair, architecture=architecture, iterations=2, batch_size=1)
    model = DDM(architecture["code"], architecture["field"], True).eval()
    model.load_state_dict(result.state)
    frames, fields = model.frames(*(torch.as_tensor(p) for p in pair), [0.0, 1.0])
    assert frames.shape == (1, 2, 1, 16, 16, 8) and fields.shape == (1, 2, 3, 16, 16, 8)
    assert torch.allclose(frames[:, 0], torch.as_tensor(pair[0]), atol=1e-6)
