"""The model zoo: parameter counts and MACs against torchvision's published tables and the papers, module
names, and one forward + backward + SGD step per model at its natural input size.

Each model is built once per module (an indirectly parametrised module-scoped fixture groups the tests by
model), so the ImageNet-size models are allocated one at a time.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
from cnnkit import models
from cnnkit.analysis import summary

# torchvision's model tables: (parameters, GFLOPS column = GMACs at 1x3x224x224)
TORCHVISION = {
    "alexnet": (61_100_840, 0.71),
    "vgg11": (132_863_336, 7.61),
    "vgg13": (133_047_848, 11.31),
    "vgg16": (138_357_544, 15.47),
    "vgg19": (143_667_240, 19.63),
    "vgg11_bn": (132_868_840, 7.61),
    "vgg13_bn": (133_053_736, 11.31),
    "vgg16_bn": (138_365_992, 15.47),
    "vgg19_bn": (143_678_248, 19.63),
    "googlenet": (6_624_904, 1.50),
    "resnet18": (11_689_512, 1.81),
    "resnet34": (21_797_672, 3.66),
    "resnet50": (25_557_032, 4.09),
    "resnet101": (44_549_160, 7.80),
    "resnet152": (60_192_808, 11.51),
    "densenet121": (7_978_856, 2.83),
    "densenet161": (28_681_000, 7.73),
    "densenet169": (14_149_480, 3.36),
    "densenet201": (20_013_928, 4.29),
}

# He et al. (2015), Table 6: parameters of the CIFAR-10 ResNets (in millions, as printed)
CIFAR_PAPER = {"resnet20": 0.27, "resnet32": 0.46, "resnet44": 0.66, "resnet56": 0.85, "resnet110": 1.7}

# Forward + backward at the natural input size took longer than 20 s for this one (measured on the 2-core
# development machine, 11-21 s depending on load; the VGGs, ResNet-152s and DenseNet-161 take 8-19 s); it runs
# unless deselected with -m "not slow".
SLOW_FORWARD = {"densenet201"}

ALL = models.list_models("classification") + models.list_models("reconstruction")  # other tasks: their own tests
CLASSIFIERS = [n for n in ALL if n != "conv_autoencoder"]


def _marked(names, slow=frozenset()):
    return [pytest.param(n, marks=pytest.mark.slow) if n in slow else n for n in names]


@pytest.fixture(scope="module")
def built(request):
    """(name, model), built once per module and per name."""
    ck.manual_seed(0)
    model = models.get_model(request.param)
    yield request.param, model
    del model
    gc.collect()


# ------------------------------------------------------------------------------------------------ registry
def test_registry_lists_every_family():
    names = models.list_models()
    assert names == sorted(names)
    for name in ["lenet5", "alexnet", "alexnet_original", "vgg11", "vgg19_bn", "googlenet", "resnet18",
                 "resnet152", "preact_resnet18", "preact_resnet152", "resnet20", "resnet110", "densenet121",
                 "densenet201", "conv_autoencoder"]:
        assert name in names
    assert models.model_input_size("resnet50") == (3, 224, 224)
    assert models.model_input_size("resnet56") == (3, 32, 32)
    assert models.model_input_size("lenet5") == (1, 28, 28)
    assert models.model_input_size("alexnet_original") == (3, 227, 227)


def test_get_model_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match=r"unknown model 'resnet9'.*known models: .*resnet18"):
        models.get_model("resnet9")
    with pytest.raises(TypeError, match="expected a model name"):
        models.get_model(18)


def test_get_model_passes_keyword_arguments():
    model = models.get_model("resnet20", num_classes=7)
    assert model.fc.out_features == 7
    assert isinstance(models.get_model("ReSNet20"), models.CifarResNet)


# ------------------------------------------------------------------------------------------------ counts
@pytest.mark.parametrize("built", list(TORCHVISION), indirect=True)
def test_parameter_count_matches_torchvision(built):
    name, model = built
    assert model.num_parameters() == TORCHVISION[name][0]


@pytest.mark.parametrize("built", list(TORCHVISION), indirect=True)
def test_macs_match_torchvision_within_one_percent(built):
    name, model = built
    result = summary(model, (1, 3, 224, 224), depth=1)
    gmacs = result.totals.total_macs / 1e9
    expected = TORCHVISION[name][1]
    assert abs(gmacs - expected) <= 0.01 * expected, f"{name}: {gmacs:.4f} GMACs vs published {expected}"
    assert result.totals.total_flops == 2 * result.totals.total_macs
    assert result.totals.total_params == TORCHVISION[name][0]


@pytest.mark.parametrize("name", list(CIFAR_PAPER))
def test_cifar_resnets_match_the_paper(name):
    model = models.get_model(name)
    params = model.num_parameters()
    paper = CIFAR_PAPER[name]
    assert round(params / 1e6, 2 if paper < 1 else 1) == paper, f"{name}: {params:,}"
    depth = int(name[6:])
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs) + len(linears) == depth  # 6n + 2 weighted layers, option A adds none
    assert not any(isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) for m in model.modules())


def test_cifar_resnet20_exact_count_and_option_b():
    assert models.resnet20().num_parameters() == 269_722
    b = models.CifarResNet(20, shortcut="B")
    assert b.num_parameters() == 269_722 + (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)
    with pytest.raises(ValueError, match="6n\\+2"):
        models.CifarResNet(21)


def test_lenet5():
    model = models.lenet5()
    assert model.num_parameters() == 61_706
    assert model.features.conv1.padding == (2, 2)
    out = model(ck.zeros(3, 1, 28, 28))
    assert out.shape == (3, 10)


def test_alexnet_original_per_layer_weights():
    model = models.alexnet(original=True)
    weights = [m.weight.data.size for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert weights == [34_848, 307_200, 884_736, 663_552, 442_368, 37_748_736, 16_777_216, 4_096_000]
    assert [m.out_channels for m in model.features if isinstance(m, nn.Conv2d)] == [96, 256, 384, 384, 256]
    assert [m.groups for m in model.features if isinstance(m, nn.Conv2d)] == [1, 2, 1, 2, 2]
    kinds = [type(m).__name__ for m in model.features]
    assert kinds[:4] == ["Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d"]
    assert kinds[4:8] == ["Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d"]
    assert kinds.count("LocalResponseNorm") == 2


def test_torchvision_module_names():
    sd = models.densenet121().state_dict()
    assert sd["features.denseblock1.denselayer1.norm1.weight"].shape == (64,)
    assert sd["features.denseblock1.denselayer1.conv2.weight"].shape == (32, 128, 3, 3)
    assert sd["features.transition1.conv.weight"].shape == (128, 256, 1, 1)
    assert sd["features.norm5.running_var"].shape == (1024,)
    assert sd["classifier.weight"].shape == (1000, 1024)

    g = models.googlenet().state_dict()
    assert g["conv1.conv.weight"].shape == (64, 3, 7, 7)
    assert g["conv1.bn.num_batches_tracked"].shape == ()
    assert g["inception3a.branch3.1.conv.weight"].shape == (32, 16, 3, 3)  # torchvision's 3x3 "5x5" branch
    assert g["inception5b.branch4.1.bn.running_mean"].shape == (128,)
    assert not any(k.startswith("aux") for k in g)
    assert any(k.startswith("aux1.fc2") for k in models.googlenet(aux_logits=True).state_dict())

    r = models.resnet50().state_dict()
    assert r["layer1.0.downsample.0.weight"].shape == (256, 64, 1, 1)
    assert r["layer2.0.conv2.weight"].shape == (128, 128, 3, 3)
    assert r["layer4.2.bn3.running_mean"].shape == (2048,)
    assert len(r) == 320  # torchvision's resnet50 state_dict has 320 entries


def test_resnet_stride_sits_on_the_3x3_conv():
    model = models.resnet50()
    block = model.layer2[0]
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2) and block.conv3.stride == (1, 1)
    assert block.downsample[0].stride == (2, 2)
    basic = models.resnet18().layer3[0]
    assert basic.conv1.stride == (2, 2) and basic.conv2.stride == (1, 1)


def test_zero_init_residual():
    model = models.resnet50(zero_init_residual=True)
    assert all(np.all(b.bn3.weight.data == 0) for b in model.modules() if isinstance(b, models.Bottleneck))
    assert all(np.all(b.bn2.weight.data == 1) for b in model.modules() if isinstance(b, models.Bottleneck))


def test_preact_block_ends_on_the_sum():
    block = models.PreActBasicBlock(8, 8)
    assert list(dict(block.named_children())) == ["bn1", "relu", "conv1", "bn2", "conv2"]
    x = ck.tensor(np.random.default_rng(0).standard_normal((2, 8, 5, 5)).astype(np.float32))
    block.eval()
    out = block(x)
    # identity shortcut added after the last conv, nothing after it: the output can be negative
    assert out.shape == (2, 8, 5, 5) and float(out.data.min()) < 0


def test_naive_inception_grows_channels():
    naive = models.NaiveInception(192, 64, 128, 32)
    reduced = models.Inception(192, 64, 96, 128, 16, 32, 32)
    assert naive.out_channels == 64 + 128 + 32 + 192
    x = ck.zeros(1, 192, 28, 28)
    naive.eval()
    reduced.eval()
    assert naive(x).shape == (1, 416, 28, 28)
    assert reduced(x).shape == (1, 256, 28, 28)
    assert naive.num_parameters() > 2 * reduced.num_parameters()
    assert summary(naive, (1, 192, 28, 28)).totals.total_macs > 2 * summary(reduced, (1, 192, 28, 28)).totals.total_macs


def test_googlenet_aux_outputs_in_training():
    model = models.googlenet(num_classes=5, aux_logits=True, init_weights=False)
    out = model(ck.zeros(2, 3, 224, 224))
    assert isinstance(out, models.GoogLeNetOutputs)
    assert out.logits.shape == out.aux_logits1.shape == out.aux_logits2.shape == (2, 5)
    model.eval()
    assert model(ck.zeros(1, 3, 224, 224)).shape == (1, 5)


def test_autoencoder_shapes():
    model = models.conv_autoencoder()
    assert [type(m).__name__ for m in model.decoder] == ["ConvTranspose2d", "ReLU", "ConvTranspose2d", "Sigmoid"]
    x = ck.rand(2, 1, 28, 28)
    y = model(x)
    assert y.shape == (2, 1, 28, 28)
    assert model.encoder(x).shape == (2, 32, 7, 7)
    assert float(y.data.min()) >= 0.0 and float(y.data.max()) <= 1.0
    with pytest.raises(ValueError, match="channels"):
        models.ConvAutoencoder(channels=())


# ------------------------------------------------------------------------------------------------ training step
def _sgd_step(model, lr=1e-3):
    with ck.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p.data -= lr * p.grad.data


@pytest.mark.parametrize("built", _marked(ALL, SLOW_FORWARD), indirect=True)
def test_forward_backward_step(built):
    """Batch of 2 at the natural input size: output shape, finite gradients on every parameter, one SGD step
    changes the weights."""
    name, model = built
    c, h, w = models.model_input_size(name)
    rng = np.random.default_rng(0)
    x = ck.tensor(rng.random((2, c, h, w), dtype=np.float32))
    model.train()
    out = model(x)
    if name == "conv_autoencoder":
        assert out.shape == (2, c, h, w)
        loss = ((out - x) ** 2).mean()
    else:
        assert out.shape == (2, 10 if name in CIFAR_PAPER or name in ("lenet5", "small_cnn") else 1000)
        loss = ck.functional.cross_entropy(out, ck.tensor(np.array([1, 3])))
    assert np.isfinite(float(loss.item()))
    loss.backward()
    params = list(model.parameters())
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"{name}: no gradient for {missing[:5]}"
    assert all(np.all(np.isfinite(p.grad.data)) for p in params)
    probe = next(p for p in params if np.any(p.grad.data != 0))
    before = probe.data.copy()
    _sgd_step(model)
    assert not np.array_equal(before, probe.data)
    model.zero_grad()
