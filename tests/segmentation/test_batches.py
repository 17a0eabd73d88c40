"""Batch drawing: mask boxes, patch corners, crops, padding and DTC's rotate + flip."""

import numpy as np
import torch

from radsynth.segmentation.batches import crop, mask_boxes, pad_to, patch_offsets, rot_flip


def test_mask_boxes_and_empty_masks():
    mask = np.zeros((2, 10, 8, 6), np.uint8)
    mask[0, 2:7, 1:5, 3:6] = 1
    boxes = mask_boxes(mask)
    assert boxes[0].tolist() == [[2, 7], [1, 5], [3, 6]]
    assert boxes[1].tolist() == [[0, 10], [0, 8], [0, 6]]  # empty: the whole extent


def test_patches_stay_in_large_boxes_and_cover_small_ones():
    generator = torch.Generator().manual_seed(0)
    shape, patch = (40, 30, 20), (10, 10, 8)
    boxes = torch.tensor([[[5, 35], [2, 28], [0, 20]], [[18, 24], [10, 14], [6, 10]]]).repeat(200, 1, 1)
    corners = patch_offsets(boxes, shape, patch, generator)
    size = torch.tensor(patch)
    large, small = corners[0::2], corners[1::2]
    assert (large >= boxes[0::2, :, 0]).all() and (large + size <= boxes[0::2, :, 1]).all()
    assert (small <= boxes[1::2, :, 0]).all() and (small + size >= boxes[1::2, :, 1]).all()
    assert (corners >= 0).all() and (corners + size <= torch.tensor(shape)).all()
    # every admissible corner of the large box is drawn (uniform over the range, ends included)
    assert large[:, 0].min() == 5 and large[:, 0].max() == 25


def test_crop_takes_the_same_window_from_every_array():
    volume = torch.arange(2 * 3 * 6 * 5 * 4).reshape(2, 3, 6, 5, 4)
    labels = volume[:, 0]
    out = crop(volume, torch.tensor([1, 0]), torch.tensor([[1, 2, 0], [0, 0, 2]]), (3, 2, 2))
    assert out.shape == (2, 3, 3, 2, 2)
    assert torch.equal(out[0], volume[1, :, 1:4, 2:4, 0:2])
    assert torch.equal(crop(labels, torch.tensor([1, 0]), torch.tensor([[1, 2, 0], [0, 0, 2]]), (3, 2, 2))[1], labels[0, 0:3, 0:2, 2:4])


def test_pad_to_pads_the_end_only_where_needed():
    array = torch.ones(2, 1, 4, 6, 3)
    padded = pad_to(array, (5, 5, 3), value=-1.0)
    assert padded.shape == (2, 1, 5, 6, 3) and padded[:, :, 4].eq(-1).all() and padded[:, :, :4].eq(1).all()
    assert pad_to(array, (2, 2, 2), 0.0) is array


def test_rot_flip_moves_image_label_and_sdf_together():
    generator = torch.Generator().manual_seed(3)
    label = torch.zeros(8, 6, 6, 4, dtype=torch.uint8)
    label[:, 0:2, 0:3, 1] = 1  # an asymmetric corner block
    image = label[:, None].float() * 2 - 1
    sdf = -image.clone()
    image2, label2, sdf2 = rot_flip(image, label, sdf, generator)
    assert torch.equal(image2, label2[:, None].float() * 2 - 1) and torch.equal(sdf2, -image2)
    assert (label2.flatten(1).sum(1) == 6).all()
    assert len({tuple(np.argwhere(l.numpy())[0]) for l in label2}) > 1  # several orientations drawn
