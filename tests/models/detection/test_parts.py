"""Anchors, box coder, matcher and sampler against hand-worked cases of torchvision's definitions."""

import math

import numpy as np
import pytest

import cnnkit as ck
from cnnkit import nn
from cnnkit.errors import InputError
from cnnkit.models import resnet20
from cnnkit.models.detection import (
    AnchorGenerator,
    BalancedPositiveNegativeSampler,
    BoxCoder,
    Matcher,
    classifier_backbone,
    default_anchor_sizes,
    freeze_backbone,
    load_backbone_weights,
    shapes_backbone,
)


def test_base_anchors_hand_worked():
    gen = AnchorGenerator(sizes=(16, 32), aspect_ratios=(0.5, 1.0, 2.0))
    # ratio r = h/w: w = s / sqrt(r), h = s * sqrt(r); box round(+-w/2, +-h/2); ratio-major order
    expected = []
    for r in (0.5, 1.0, 2.0):
        for s in (16, 32):
            w, h = s / math.sqrt(r), s * math.sqrt(r)
            expected.append([round(-w / 2), round(-h / 2), round(w / 2), round(h / 2)])
    np.testing.assert_array_equal(gen.cell_anchors, np.array(expected, np.float32))
    np.testing.assert_array_equal(gen.cell_anchors[0], [-11, -6, 11, 6])  # 22.6 x 11.3 -> rounded
    assert gen.num_anchors_per_location == 6


def test_anchors_shifted_by_stride_position_major():
    gen = AnchorGenerator(sizes=(8,), aspect_ratios=(1.0,))
    a = gen(image_size=(64, 48), feature_size=(4, 3))  # stride 16 both ways
    assert a.shape == (12, 4)
    np.testing.assert_array_equal(a[0], [-4, -4, 4, 4])
    np.testing.assert_array_equal(a[1], [12, -4, 20, 4])  # next x
    np.testing.assert_array_equal(a[3], [-4, 12, 4, 20])  # next row
    nine = AnchorGenerator(sizes=(16, 24, 32))(image_size=(64, 64), feature_size=(8, 8))
    assert nine.shape == (8 * 8 * 9, 4)
    np.testing.assert_array_equal(nine[9:18] - nine[0:9], np.tile([8, 0, 8, 0], (9, 1)))


def test_default_anchor_sizes_scale_the_paper():
    assert default_anchor_sizes(600) == (128.0, 256.0, 512.0)
    assert default_anchor_sizes(64) == (14.0, 27.0, 55.0)
    with pytest.raises(InputError):
        AnchorGenerator(sizes=(0, 4))


def test_box_coder_hand_worked_and_round_trip():
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    ref = np.array([[0, 0, 10, 20]], np.float32)
    box = np.array([[5, 0, 25, 20]], np.float32)  # centre (15, 10) vs (5, 10), width 20 vs 10
    np.testing.assert_allclose(coder.encode(box, ref), [[10 * 10 / 10, 0, 5 * math.log(2), 0]], rtol=1e-6)
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 50, (20, 2))
    ref = np.concatenate([xy, xy + rng.uniform(2, 30, (20, 2))], 1).astype(np.float32)
    xy = rng.uniform(0, 50, (20, 2))
    box = np.concatenate([xy, xy + rng.uniform(2, 30, (20, 2))], 1).astype(np.float32)
    for weights in ((1, 1, 1, 1), (10, 10, 5, 5)):
        c = BoxCoder(weights)
        np.testing.assert_allclose(c.decode(c.encode(box, ref), ref)[:, 0], box, atol=1e-3)
    # class-specific deltas (N, 4*C) decode to (N, C, 4); huge dw is clamped at log(1000/16)
    d = np.zeros((1, 8), np.float32)
    d[0, 6] = 100.0
    out = BoxCoder().decode(d, ref[:1])
    assert out.shape == (1, 2, 4)
    w0 = ref[0, 2] - ref[0, 0]
    np.testing.assert_allclose(out[0, 1, 2] - out[0, 1, 0], w0 * 1000 / 16, rtol=1e-4)


def test_matcher_thresholds_and_low_quality():
    iou = np.array([[0.9, 0.5, 0.2, 0.0, 0.65],
                    [0.1, 0.6, 0.25, 0.0, 0.1]], np.float32)
    m = Matcher(0.7, 0.3, allow_low_quality_matches=False)(iou)
    np.testing.assert_array_equal(m, [0, -2, -1, -1, -2])
    # gt 1 reaches only 0.6 (prediction 1): with low-quality matches that prediction stays matched to it
    m = Matcher(0.7, 0.3, allow_low_quality_matches=True)(iou)
    np.testing.assert_array_equal(m, [0, 1, -1, -1, -2])
    # ties: every prediction at a gt's best IoU is matched (to its own best box)
    tie = np.array([[0.4, 0.4, 0.1]], np.float32)
    np.testing.assert_array_equal(Matcher(0.7, 0.3, True)(tie), [0, 0, -1])
    # heads: 0.5 / 0.5, no ignored band
    np.testing.assert_array_equal(Matcher(0.5, 0.5)(iou), [0, 1, -1, -1, 0])
    # no ground truth: all background; a gt overlapping nothing claims nothing
    np.testing.assert_array_equal(Matcher(0.7, 0.3, True)(np.zeros((0, 3))), [-1, -1, -1])
    np.testing.assert_array_equal(Matcher(0.7, 0.3, True)(np.zeros((1, 3))), [-1, -1, -1])


def test_sampler_counts():
    ck.manual_seed(0)
    labels = np.array([1] * 10 + [0] * 100 + [-1] * 5)
    pos, neg = BalancedPositiveNegativeSampler(32, 0.25)(labels)
    assert len(pos) == 8 and len(neg) == 24
    assert (labels[pos] == 1).all() and (labels[neg] == 0).all() and len(set(pos)) == 8
    pos, neg = BalancedPositiveNegativeSampler(32, 0.5)(np.array([1, 1] + [0] * 100))
    assert len(pos) == 2 and len(neg) == 30  # few positives: negatives fill the batch
    pos, neg = BalancedPositiveNegativeSampler(32, 0.5)(np.array([0] * 5 + [-1]))
    assert len(pos) == 0 and len(neg) == 5


def test_backbones_and_weight_loading():
    b = shapes_backbone(3)
    assert b(ck.zeros((2, 3, 64, 64))).shape == (2, 128, 8, 8) and b.out_channels == 128
    net = resnet20(num_classes=3)
    rb = classifier_backbone(net)  # everything before the global pooling and the classifier
    assert list(dict(rb.named_children())) == ["conv1", "bn1", "relu", "layer1", "layer2", "layer3"]
    assert rb.out_channels == 64 and rb(ck.zeros((1, 3, 32, 32))).shape == (1, 64, 8, 8)
    fresh = classifier_backbone(resnet20(num_classes=5))
    loaded, total = load_backbone_weights(fresh, net.state_dict())
    assert loaded == total > 0
    np.testing.assert_array_equal(fresh.layer3[2].conv2.weight.data, net.layer3[2].conv2.weight.data)
    prefixed = {"backbone." + k: v for k, v in net.state_dict().items()}  # a detector's checkpoint
    assert load_backbone_weights(classifier_backbone(resnet20()), prefixed)[0] == total
    holder = nn.Module()
    holder.backbone = b
    freeze_backbone(holder)
    holder.train()
    assert holder.training and not b.features[1].training
    assert not any(p.requires_grad for p in b.parameters())


def test_backbone_weights_take_one_prefix():
    """A block's ``bn1`` must not be taken for the stem's ``bn1``: one prefix for all names."""
    net = resnet20(num_classes=3)
    state = {"backbone." + k: v for k, v in net.state_dict().items()}
    del state["backbone.bn1.running_mean"]  # the stem's statistics missing: left as they were, not borrowed
    target = classifier_backbone(resnet20())
    before = target.bn1.running_mean.data.copy()
    loaded, total = load_backbone_weights(target, state)
    assert loaded == total - 1
    np.testing.assert_array_equal(target.bn1.running_mean.data, before)
    assert load_backbone_weights(target, {"fc.weight": np.zeros((3, 64), np.float32)}) == (0, total)
