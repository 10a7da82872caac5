"""Training diagnostics: per-layer activation statistics and gradient/weight norms land in the history (equal to
a direct computation), in TensorBoard when it is on, and in the end-of-run picture's data."""

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
from cnnkit.data import ArrayDataset, DataLoader
from cnnkit.training import ActivationStats, GradientStats, TensorBoard, Trainer


def _setup(n=24, batch=8):
    ck.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 3, 3, padding=1), nn.Sigmoid(),
                          nn.Flatten(), nn.Linear(3 * 36, 2))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 1, 6, 6)).astype(np.float32)
    y = rng.integers(0, 2, n)
    return model, DataLoader(ArrayDataset(x, y), batch_size=batch), DataLoader(ArrayDataset(x[:8], y[:8]), 8), x


def test_activation_stats_equal_a_direct_computation_of_the_training_batches():
    model, train, val, x = _setup()
    stats = ActivationStats()
    seen = {"1": [], "3": []}
    model[1].register_forward_hook(lambda m, a, out: seen["1"].append(out.numpy().copy()) if model.training else None)
    model[3].register_forward_hook(lambda m, a, out: seen["3"].append(out.numpy().copy()) if model.training else None)
    opt = ck.optim.SGD(model.parameters(), lr=0.0)  # no learning: the statistics are of fixed weights
    history = Trainer(model, opt, callbacks=[stats]).fit(train, val, epochs=2)
    relu = np.concatenate(seen["1"][:3])  # epoch 1's three training batches (validation runs in eval mode)
    assert history["activation_mean/1"][0] == pytest.approx(relu.mean(), rel=1e-6)
    assert history["activation_std/1"][0] == pytest.approx(relu.std(), rel=1e-5)
    assert history["zero_fraction/1"][0] == pytest.approx((relu <= 0).mean())
    assert history["dead_fraction/1"][0] == pytest.approx(1 - (relu > 0).any(axis=(0, 2, 3)).mean())
    sig = np.concatenate(seen["3"][:3])
    assert history["saturated_fraction/3"][0] == pytest.approx(((sig < 0.01) | (sig > 0.99)).mean())
    assert "dead_fraction/3" not in history.keys()
    figure = stats.figures()[0]
    assert figure.kind == "layer_stats" and figure.data["series"]["activation_mean"]["1"] == history["activation_mean/1"]


def test_a_dead_relu_is_counted():
    model, train, val, _ = _setup()
    model[0].bias.data[:] = np.array([-100.0, 0.0, 0.0], np.float32)  # channel 0 never fires
    history = Trainer(model, ck.optim.SGD(model.parameters(), lr=0.0), callbacks=[ActivationStats(layers=["1"])]).fit(
        train, None, epochs=1)
    assert history["dead_fraction/1"] == [pytest.approx(1 / 3)]


def test_gradient_stats_are_the_mean_batch_gradient_norm_and_the_weight_norm():
    model, train, val, x = _setup()
    grads = []
    stats = GradientStats()

    class Spy(ck.training.Callback):
        def on_batch_end(self, trainer, logs):
            grads.append(np.linalg.norm(model[0].weight.grad.numpy()))

    history = Trainer(model, ck.optim.SGD(model.parameters(), lr=0.1), callbacks=[Spy(), stats]).fit(train, val, 1)
    assert history["grad_norm/0"][0] == pytest.approx(np.mean(grads), rel=1e-6)
    assert history["weight_norm/0"][0] == pytest.approx(np.linalg.norm(model[0].weight.numpy()), rel=1e-6)
    assert set(stats.series()["grad_norm"]) == {"0", "2", "5"}


def test_tensorboard_gets_the_history_numbers(tmp_path):
    pytest.importorskip("tensorboardX")
    from tensorboardX.proto.event_pb2 import Event

    model, train, val, _ = _setup()
    history = Trainer(model, ck.optim.SGD(model.parameters(), lr=0.1),
                      callbacks=[GradientStats(), TensorBoard(tmp_path)]).fit(train, val, epochs=2)
    files = list(tmp_path.glob("events.out.tfevents.*"))
    assert len(files) == 1
    data, scalars, histograms = files[0].read_bytes(), {}, {}
    while data:  # TFRecord: length (8 bytes), its CRC (4), the record, its CRC (4)
        n = int.from_bytes(data[:8], "little")
        event = Event.FromString(data[12:12 + n])
        data = data[16 + n:]
        for value in event.summary.value:
            if value.HasField("histo"):
                histograms.setdefault(value.tag, []).append((event.step, value.histo))
            else:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    assert [step for step, _ in scalars["lr"]] == [1, 2]
    weight = model[0].weight.data
    assert [step for step, _ in histograms["weights/0.weight"]] == [1, 2]
    last = histograms["weights/0.weight"][-1][1]
    assert (last.num, last.min, last.max) == (weight.size, pytest.approx(weight.min()), pytest.approx(weight.max()))
    assert [step for step, _ in histograms["gradients/5.bias"]] == [1, 2]
    assert scalars["loss"] == [(1, pytest.approx(history["loss"][0])), (2, pytest.approx(history["loss"][1]))]
    assert [v for _, v in scalars["grad_norm/0"]] == pytest.approx(history["grad_norm/0"])


def test_unknown_layer_is_an_input_error():
    model, train, val, _ = _setup()
    with pytest.raises(ck.InputError, match="no layer named 'nope'"):
        Trainer(model, ck.optim.SGD(model.parameters(), lr=0.1), callbacks=[ActivationStats(layers=["nope"])]).fit(
            train, None, 1)
