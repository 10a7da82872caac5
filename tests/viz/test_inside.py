"""Seeing inside a model: Grad-CAM and saliency equal PyTorch autograd on the same weights; the empirical receptive
field of a stack of 3x3 convolutions equals the summary's; feature maps, filters and the one-line input errors."""

import numpy as np
import pytest
from oracle import assert_close, requires_torch, torch

import cnnkit as ck
import cnnkit.nn as nn
from cnnkit import viz


def _pair(seed=0):
    """The same small CNN in cnnkit and in PyTorch (same weights, BN with non-trivial running statistics)."""
    ck.manual_seed(seed)
    ours = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(54, 5))
    rng = np.random.default_rng(seed)
    ours[1].running_mean = rng.normal(0, 0.1, 4).astype(np.float32)
    ours[1].running_var = rng.uniform(0.5, 1.5, 4).astype(np.float32)
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Conv2d(4, 6, 3, padding=1), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(54, 5))
    theirs.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in ours.state_dict().items()})
    theirs.eval()
    return ours, theirs


def _torch_grad_cam(model, x, layer_index, targets):
    found = {}

    def hook(module, args, output):
        output.retain_grad()
        found["a"] = output

    handle = model[layer_index].register_forward_hook(hook)
    scores = model(x)
    scores[torch.arange(len(x)), torch.tensor(targets)].sum().backward()
    handle.remove()
    a, g = found["a"], found["a"].grad
    weights = g.mean(dim=(2, 3))
    cam = torch.relu((weights[:, :, None, None] * a).sum(dim=1))
    up = torch.nn.functional.interpolate(cam[:, None], size=x.shape[2:], mode="bilinear", align_corners=False)[:, 0]
    return weights.detach(), cam.detach(), up.detach(), scores.detach()


@requires_torch
@pytest.mark.parametrize("layer", ["4", "5"])
@pytest.mark.parametrize("target", [None, 3])
def test_grad_cam_equals_pytorch_autograd(layer, target):
    ours, theirs = _pair()
    images = np.random.default_rng(1).random((3, 1, 12, 12)).astype(np.float32)
    result = viz.grad_cam(ours, images, layer, target=target)
    targets = result.target.tolist()
    if target is None:
        with torch.no_grad():
            assert targets == theirs(torch.tensor(images)).argmax(dim=1).tolist()
    else:
        assert targets == [3, 3, 3]
    weights, cam, up, scores = _torch_grad_cam(theirs, torch.tensor(images), int(layer), targets)
    assert_close(result.scores, scores, "logits")
    assert_close(result.weights, weights, "channel weights")
    assert_close(result.cam, cam, "Grad-CAM")
    peak = up.reshape(3, -1).max(dim=1).values[:, None, None]
    scaled = torch.where(peak > 0, up / peak.clamp_min(1e-30), torch.zeros_like(up))  # an all-zero map stays 0
    assert_close(result.heatmap, scaled, "Grad-CAM resized to the input, scaled")
    assert result.cam.shape == (3, 6, 6) and result.heatmap.shape == (3, 12, 12)


@requires_torch
def test_saliency_equals_pytorch_autograd():
    ours, theirs = _pair(seed=2)
    images = np.random.default_rng(3).random((2, 1, 12, 12)).astype(np.float32)
    result = viz.saliency(ours, images, target=[1, 4])
    x = torch.tensor(images, requires_grad=True)
    theirs(x)[torch.arange(2), torch.tensor([1, 4])].sum().backward()
    assert_close(result.gradient, x.grad, "d score / d input")
    assert_close(result.saliency, x.grad.abs().amax(dim=1), "saliency")


def test_explanations_leave_the_model_as_it_was():
    ours, _ = _pair() if torch is not None else (None, None)
    if ours is None:
        pytest.skip("needs the shared model builder")
    ours.train()
    before = {k: np.array(v) for k, v in ours.state_dict().items()}
    for p in ours.parameters():
        p.grad = None
    viz.grad_cam(ours, np.zeros((1, 12, 12), np.float32), "4")
    viz.saliency(ours, np.zeros((1, 12, 12), np.float32))
    assert ours.training and all(p.grad is None for p in ours.parameters())
    after = ours.state_dict()
    assert all(np.array_equal(before[k], np.asarray(after[k])) for k in before)  # BN statistics untouched


def _stack(strides=(1, 1, 1, 1), dilations=(1, 1, 1, 1)):
    layers, cin = [], 1
    for s, d in zip(strides, dilations, strict=True):
        layers += [nn.Conv2d(cin, 3, 3, stride=s, padding=d, dilation=d), nn.ReLU()]
        cin = 3
    return nn.Sequential(*layers)


@pytest.mark.parametrize("strides,dilations,expected", [
    ((1, 1, 1, 1), (1, 1, 1, 1), [3, 5, 7, 9]),
    ((1, 2, 1, 1), (1, 1, 1, 1), [3, 5, 9, 13]),
    ((1, 1, 1, 1), (1, 2, 1, 1), [3, 7, 9, 11]),
])
def test_empirical_receptive_field_of_3x3_stacks_equals_the_summary(strides, dilations, expected):
    model = _stack(strides, dilations)
    for k, name in enumerate(["0", "2", "4", "6"]):
        rf = viz.empirical_receptive_field(model, name, input_size=(1, 40, 40))
        assert rf.extent == (expected[k], expected[k]) == rf.computed, (name, rf.extent, rf.computed)
        assert rf.matches and rf.mask.sum() >= expected[k] ** 2 * (0.5 if dilations[1] > 1 else 1)


def test_receptive_field_is_cut_by_the_border_and_checks_the_unit():
    model = _stack()
    corner = viz.empirical_receptive_field(model, "6", input_size=(1, 16, 16), unit=(0, 0))
    assert corner.extent == (5, 5) and corner.computed == (9, 9) and not corner.matches  # padding cuts it
    with pytest.raises(ck.InputError, match="outside"):
        viz.empirical_receptive_field(model, "6", input_size=(1, 16, 16), unit=(16, 0))


def test_feature_maps_are_the_layer_output():
    ours = _stack()
    image = np.random.default_rng(0).random((1, 10, 10)).astype(np.float32)
    maps = viz.feature_maps(ours, image, "3")
    with ck.no_grad():
        expected = ours[:4](ck.tensor(image[None])).numpy()[0]
    np.testing.assert_array_equal(maps, expected)
    assert viz.feature_maps(ours, image[None], "3").shape == (1, 3, 10, 10)


def test_filter_grid_tiles_each_filter():
    w = np.random.default_rng(0).standard_normal((6, 3, 5, 5)).astype(np.float32)
    grid = viz.filter_grid(w, ncols=3, pad=1)
    assert grid.shape == (2 * 6 + 1, 3 * 6 + 1, 3)
    tile = grid[1:6, 1:6]
    np.testing.assert_allclose(tile, 0.5 + 0.5 * w[0].transpose(1, 2, 0) / np.abs(w[0]).max(), rtol=1e-6)
    assert viz.filter_grid(w[:, :1]).shape == (2 * 6 + 1, 3 * 6 + 1)  # grey tiles for one input channel


def test_pictures_are_written(tmp_path):
    model = _stack()
    image = np.random.default_rng(0).random((1, 10, 10)).astype(np.float32)
    head = nn.Sequential(model, nn.Flatten(), nn.Linear(300, 4))
    cam = viz.grad_cam(head, image, "0.4")
    sal = viz.saliency(head, image)
    rf = viz.empirical_receptive_field(model, "4", (1, 10, 10))
    paths = [viz.plot_filters(model, tmp_path / "f.png"), viz.plot_gradcam(image, cam, tmp_path / "g.png"),
             viz.plot_saliency(image, sal, tmp_path / "s.png"),
             viz.plot_feature_maps(viz.feature_maps(model, image, "1"), tmp_path / "m.png", image=image),
             viz.plot_receptive_field(rf, tmp_path / "r.png", image=image)]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)


def test_bad_layer_and_class_are_clear_input_errors():
    model = nn.Sequential(_stack(), nn.Flatten(), nn.Linear(3 * 64, 4))
    image = np.zeros((1, 8, 8), np.float32)
    with pytest.raises(ck.InputError, match=r"no layer named 'nope'.*its layers are: 0, 0\.0, 0\.1") as err:
        viz.grad_cam(model, image, "nope")
    assert err.value.field == "layer"
    with pytest.raises(ck.InputError, match="not a feature map") as err:
        viz.grad_cam(model, image, "2")
    with pytest.raises(ck.InputError, match=r"class index 7 is out of range: the model has 4 classes") as err:
        viz.grad_cam(model, image, "0.6", target=7)
    assert err.value.field == "target"
    with pytest.raises(ck.InputError, match="not a feature map"):
        viz.feature_maps(model, image, "1")
    assert viz.feature_map_layers(model, (1, 8, 8)) == ["0", "0.0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7"]
