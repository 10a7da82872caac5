"""``cnnkit experiment detectors`` plots the numbers it measured; R-CNN's CNN time per image dwarfs SPP-net's."""

import json

import pytest

from cnnkit import experiments, viz
from cnnkit.errors import InputError
from cnnkit.experiments import detectors


def test_detectors_experiment_plots_what_it_measured(tmp_path, monkeypatch):
    calls = {}
    for name in ("plot_bars", "plot_scatter"):
        original = getattr(viz, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            calls[_name] = args
            return _original(*args, **kwargs)

        monkeypatch.setattr(viz, name, spy)
    result = detectors.run(tmp_path, epochs=1, models=("rcnn", "spp_net"), n_train=8, n_test=4, batch_size=4)
    rows = result["results"]
    assert list(rows) == ["rcnn", "spp_net"]
    bars = calls["plot_bars"][0]
    assert bars["mAP@0.5 (test)"] == {n: rows[n]["map50"] for n in rows}
    for stage in detectors.STAGES:
        assert bars[f"{stage} s/image"] == {n: rows[n][f"{stage}_seconds"] for n in rows}
    assert calls["plot_scatter"][0] == {n: (rows[n]["total_seconds"], rows[n]["map50"]) for n in rows}
    for r in rows.values():
        assert 0.0 <= r["map50"] <= 1.0 and r["epochs"] == 1
        assert r["total_seconds"] == pytest.approx(sum(r[f"{s}_seconds"] for s in detectors.STAGES))
    assert rows["rcnn"]["cnn_seconds"] > 3 * rows["spp_net"]["cnn_seconds"]  # the CNN once per region
    assert (tmp_path / "detectors.png").is_file() and (tmp_path / "detectors_speed.png").is_file()
    assert "rcnn" in result["message"] and json.dumps(result)


def test_stage_timer_hooks_a_backbone():
    import numpy as np

    from cnnkit import nn

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Conv2d(3, 2, 3)

        def forward(self, x):
            return [{"n": self.backbone(x).shape[0]}]

    timer = detectors.StageTimer(Tiny())
    assert timer(np.zeros((2, 3, 8, 8), np.float32)) == [{"n": 2}]
    assert timer.seconds["cnn"] > 0 and timer.seconds["heads"] >= 0 and timer.seconds["proposals"] == 0
    timer.close()


def test_only_detectors_are_compared(tmp_path):
    with pytest.raises(InputError, match="not a detection model"):
        detectors.run(tmp_path, epochs=1, models=("lenet5",), n_train=2, n_test=2)
    assert "detectors" in experiments.EXPERIMENTS
