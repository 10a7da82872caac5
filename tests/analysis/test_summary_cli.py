"""``cnnkit summary`` entry point: summary_main(argv) -> exit status."""

from __future__ import annotations

from cnnkit.analysis import ModelSummary, summary_main


def test_resnet50_table(capsys):
    assert summary_main(["resnet50"]) == 0
    out = capsys.readouterr().out
    assert "Total params: 25,557,032" in out
    assert "ResNet summary: input [1, 3, 224, 224] float32" in out


def test_json_round_trips(capsys):
    assert summary_main(["resnet20", "--json", "--explain", "--depth", "2"]) == 0
    text = capsys.readouterr().out
    result = ModelSummary.from_json(text)
    assert result.totals.total_params == 269_722
    assert result.input_size == (1, 3, 32, 32) and result.depth == 2 and result.explain
    assert ModelSummary.from_json(result.to_json()) == result


def test_options(capsys):
    assert summary_main(["lenet5", "--input", "1x28x28", "--batch", "4", "--num-classes", "5", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "input [4, 1, 28, 28]" in out and "[4, 5]" in out
    assert "(28 + 2*2 - 5) // 1 + 1 = 28" in out
    assert summary_main(["lenet5", "--depth", "0"]) == 0
    assert "Conv2d" not in capsys.readouterr().out


def test_unknown_model_lists_known_ones(capsys):
    assert summary_main(["resnet9"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'resnet9'" in err and "resnet18" in err and "densenet121" in err


def test_bad_arguments_exit_2(capsys):
    assert summary_main(["resnet18", "--input", "3xx"]) == 2
    assert summary_main(["resnet18", "--batch", "0"]) == 2
    assert summary_main([]) == 2
    assert "model name is required" in capsys.readouterr().err
    assert summary_main(["conv_autoencoder", "--num-classes", "3"]) == 2
    assert summary_main(["--help"]) == 0
    assert "usage: cnnkit summary" in capsys.readouterr().out


def test_input_that_does_not_fit_is_a_clean_error(capsys):
    assert summary_main(["lenet5", "--input", "1x32x32"]) == 2  # the user's mistake: one line, exit 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cnnkit: error: summary: ") and "forward pass of LeNet5" in err[0]
    assert summary_main(["nosuchmodel"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cnnkit: error: summary: unknown model")


def test_other_channel_counts_and_sizes(capsys):
    assert summary_main(["lenet5", "--input", "3x28x28", "--json"]) == 0
    result = ModelSummary.from_json(capsys.readouterr().out)
    assert result.rows[1].input_shape == (1, 3, 28, 28)
    assert summary_main(["small_cnn", "--input", "1x16x16"]) == 0
    assert "input [1, 1, 16, 16]" in capsys.readouterr().out


def test_list(capsys):
    assert summary_main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "resnet50" in out and "3x224x224" in out and "small_cnn" in out
