"""``cnnkit experiment autoencoder``: PCA against a linear and a convolutional autoencoder on the bundled digits.

Each method squeezes an 8x8 digit (64 numbers) into a code of 2, 8 or 32 numbers and rebuilds it. PCA (from the
SVD of the centred training images) is the best linear code for the squared error; a linear autoencoder trained
by gradient descent approaches it from above (it learns the same subspace); the convolutional autoencoder is not
linear, so at small codes it can do better than any linear map. Reconstruction MSE (per pixel, on the test split)
by code size, a picture of test digits and their reconstructions, and the 2-D codes of the test digits coloured by
their label (which digits the code keeps apart without ever seeing a label).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import digits_arrays, fit, loaders_from

METHODS = ("PCA", "linear autoencoder", "conv autoencoder")


def pca_fit(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), components (k, D)) of the rows of ``x`` (N, D): the top right singular vectors of ``x - mean``."""
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean, vt[:k]


def pca_codes(x: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Codes (N, k) = (x - mean) V_k^T."""
    return (x - mean) @ components.T


def pca_reconstruct(codes: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Images (N, D) = mean + codes V_k."""
    return mean + codes @ components


def _outputs(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, reconstructions) of a batch array (eval mode, no gradients)."""
    import cnnkit as ck

    model.eval()
    with ck.no_grad():
        code = model.encode(ck.tensor(x))
        return np.asarray(code.data), np.asarray(model.decode(code).data)


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))


def run(out: Path, epochs: int = 40, seed: int = 0, code_sizes=(2, 8, 32), n_train: int | None = None,
        lr: float = 1e-2, batch_size: int = 64, channels=(16, 32), examples: int = 10) -> dict:
    """PCA, a linear autoencoder and a convolutional autoencoder (``channels``, a linear bottleneck of the code
    size) at each of ``code_sizes``; the autoencoders trained with Adam at ``lr`` for ``epochs`` epochs on the
    digits' training split (``n_train`` images, default all), the same seed each."""
    import cnnkit as ck

    from .. import viz
    from ..models.autoencoder import ConvAutoencoder, LinearAutoencoder

    arrays = digits_arrays(n_train, 0, seed)
    x_train = arrays["train"][0]
    x_test, y_test = arrays["test"]
    shape = x_train.shape[1:]
    flat_train, flat_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    loaders = loaders_from(arrays, batch_size=batch_size)
    mse = {m: {} for m in METHODS}
    histories = {m: {} for m in METHODS[1:]}
    recon = {m: {} for m in METHODS}
    codes_2d = {}
    for k in code_sizes:
        mean, components = pca_fit(flat_train, k)
        codes = pca_codes(flat_test, mean, components)
        rebuilt = pca_reconstruct(codes, mean, components).reshape(x_test.shape)
        mse["PCA"][k], recon["PCA"][k] = _mse(rebuilt, x_test), rebuilt
        if k == 2:
            codes_2d["PCA"] = codes
        builders = {"linear autoencoder": lambda k=k: LinearAutoencoder(shape, k),
                    "conv autoencoder": lambda k=k: ConvAutoencoder(shape[0], tuple(channels), code_size=k,
                                                                    input_size=shape[1])}
        for name, build in builders.items():
            ck.manual_seed(seed)
            model = build()
            ck.manual_seed(seed + 1)
            histories[name][k] = fit(model, loaders, "adam", lr, epochs, keys=("loss",), task="reconstruction")
            codes, rebuilt = _outputs(model, x_test)
            mse[name][k], recon[name][k] = _mse(rebuilt, x_test), rebuilt
            if k == 2:
                codes_2d[name] = codes
    sizes = list(code_sizes)
    viz.plot_xy({"test reconstruction error": {
        "xlabel": "code size (numbers per 8x8 digit)", "ylabel": "MSE per pixel",
        "series": {m: (sizes, [mse[m][k] for k in sizes]) for m in METHODS}}}, out / "autoencoder_mse.png",
        title=f"PCA vs autoencoders on the digits ({epochs} epochs of Adam for the autoencoders)")
    shown = min(examples, len(x_test))
    rows = {"original": x_test[:shown]}
    rows.update({f"{m} ({k})": recon[m][k][:shown] for k in sizes for m in METHODS})
    viz.plot_image_grid(rows, out / "autoencoder_reconstructions.png",
                        title="Test digits and their reconstructions (code size in brackets)")
    files = ["autoencoder_mse.png", "autoencoder_reconstructions.png"]
    if codes_2d:
        viz.plot_codes_2d(codes_2d, y_test, out / "autoencoder_codes.png",
                          title="2-D codes of the test digits, coloured by label (never seen in training)")
        files.append("autoencoder_codes.png")
    table = _table(mse, sizes)
    return {"experiment": "autoencoder", "epochs": epochs, "seed": seed, "code_sizes": sizes,
            "mse": {m: {str(k): v for k, v in per.items()} for m, per in mse.items()},
            "histories": {m: {str(k): h for k, h in per.items()} for m, per in histories.items()},
            "codes_2d": {m: np.asarray(c).round(5).tolist() for m, c in codes_2d.items()},
            "labels": y_test.tolist(), "table": table, "files": [*files, "autoencoder.json"],
            "message": f"autoencoder: test reconstruction MSE per pixel\n{table}\nplots in {out}"}


def _table(mse: dict, sizes) -> str:
    """The MSE table as text: one row per code size, one column per method."""
    head = f"{'code size':>9}  " + "  ".join(f"{m:>18}" for m in METHODS)
    lines = [head] + [f"{k:>9}  " + "  ".join(f"{mse[m][k]:>18.5f}" for m in METHODS) for k in sizes]
    return "\n".join(lines)
