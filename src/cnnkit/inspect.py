"""``cnnkit inspect``: pictures of what a trained model does with one image.

    result = inspect_checkpoint("runs/a/best.ckpt", "digit.png", layer="features.9", out="runs/a/inspect")

writes into ``out``: ``filters.png`` (the first conv layer's filters), ``feature_maps.png`` (the layer's output for
the image), ``gradcam.png`` (Grad-CAM of the class at the layer, over the image), ``saliency.png`` (gradient
saliency), ``receptive_field.png`` (the empirical receptive field of the layer's centre unit beside the summary's
computed one) and ``inspect.json`` (the numbers). ``layer`` defaults to the last convolution; ``target`` (a class
index) to the predicted class. Problems with the input — a layer that does not exist (the message lists the valid
ones), a layer without a feature map, a class index out of range, an image of the wrong size without ``resize`` —
raise :class:`~cnnkit.errors.InputError`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .atomic import json_text, write_text
from .errors import InputError

__all__ = ["inspect_checkpoint", "default_layer"]


def default_layer(model, input_size) -> str:
    """The last convolution whose output is a feature map (Grad-CAM's usual choice)."""
    from .nn import Conv2d
    from .viz import feature_map_layers

    modules = dict(model.named_modules())
    maps = feature_map_layers(model, input_size)
    convs = [n for n in maps if isinstance(modules[n], Conv2d)]
    if not convs and not maps:
        raise InputError(f"{type(model).__name__} has no layer with a feature-map output to inspect", field="layer")
    return (convs or maps)[-1]


def inspect_checkpoint(checkpoint, image, layer: str | None = None, target: int | None = None, out=None,
                       resize: bool = False) -> dict:
    """Write the pictures of the module docstring for one image file; return the numbers (also in inspect.json)."""
    from . import viz
    from .data.images import read_image
    from .runs import load_run

    loaded = load_run(checkpoint)
    model, info = loaded.model, loaded.info
    input_size = (info.in_channels, info.input_size, info.input_size)
    if layer is None:
        layer = default_layer(model, input_size)
    else:
        viz.find_layer(model, layer)
        maps = viz.feature_map_layers(model, input_size)
        if layer not in maps:
            raise InputError(f"layer {layer!r} does not output a feature map (N, C, H, W); layers that do: "
                             f"{', '.join(maps)}", field="layer")
    scores = None
    if loaded.task.has_classes:
        scores = viz.gradcam.class_scores(model, np.zeros(input_size, np.float32))
        if target is not None and not 0 <= int(target) < scores.shape[1]:
            raise InputError(f"class index {target} is out of range: the model has {scores.shape[1]} classes (0 to "
                             f"{scores.shape[1] - 1})", field="target")
    array = read_image(image, info.in_channels, info.input_size, resize=resize)
    folder = Path(out) if out is not None else Path(checkpoint).parent / f"inspect-{Path(image).stem}"
    folder.mkdir(parents=True, exist_ok=True)
    classes = list(info.classes) or None
    files = []

    viz.plot_filters(model, folder / "filters.png")
    files.append("filters.png")
    maps = viz.feature_maps(model, array, layer)
    viz.plot_feature_maps(maps, folder / "feature_maps.png", image=array,
                          title=f"{layer}: {min(len(maps), 32)} of {len(maps)} feature maps "
                                f"({maps.shape[1]}x{maps.shape[2]}) for {Path(image).name}")
    files.append("feature_maps.png")
    result = {"checkpoint": str(checkpoint), "image": str(image), "layer": layer,
              "feature_maps": {"shape": list(maps.shape), "mean": float(maps.mean()),
                               "fraction_zero": float((maps == 0).mean())}}
    if scores is not None:
        cam = viz.grad_cam(model, array, layer, target=target)
        sal = viz.saliency(model, array, target=cam.target[0])
        logits = cam.scores[0]
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        c = int(cam.target[0])
        viz.plot_gradcam(array, cam, folder / "gradcam.png", classes=classes)
        viz.plot_saliency(array, sal, folder / "saliency.png", classes=classes)
        files += ["gradcam.png", "saliency.png"]
        name = lambda i: classes[i] if classes and i < len(classes) else str(i)  # noqa: E731
        top = np.argsort(-probs)[:3]
        result.update(
            predicted={"index": int(probs.argmax()), "class": name(int(probs.argmax())),
                       "probability": float(probs.max())},
            target={"index": c, "class": name(c), "probability": float(probs[c]), "logit": float(logits[c])},
            top=[{"index": int(i), "class": name(int(i)), "probability": float(probs[i])} for i in top],
            gradcam={"shape": list(cam.cam.shape[1:]), "peak": float(cam.cam[0].max()),
                     "peak_at": [int(v) for v in np.unravel_index(cam.cam[0].argmax(), cam.cam[0].shape)]},
            saliency={"peak_at": [int(v) for v in np.unravel_index(sal.saliency[0].argmax(),
                                                                  sal.saliency[0].shape)]})
    rf = viz.empirical_receptive_field(model, layer, input_size)
    viz.plot_receptive_field(rf, folder / "receptive_field.png", image=array)
    files.append("receptive_field.png")
    border = rf.bbox is not None and (rf.bbox[0] == 0 or rf.bbox[1] == 0 or rf.bbox[2] == input_size[1] - 1
                                      or rf.bbox[3] == input_size[2] - 1)
    result["receptive_field"] = {"unit": list(rf.unit), "empirical": list(rf.extent),
                                 "computed": list(rf.computed) if rf.computed else None, "matches": rf.matches,
                                 "reaches_the_border": bool(border)}
    files.append("inspect.json")
    result.update(out=str(folder), files=files)
    write_text(folder / "inspect.json", json_text(result, indent=2))
    return result
