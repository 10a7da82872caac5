"""What the experiments hand to the plotting functions, so tests can check that the plotted numbers are the
measured ones."""

from __future__ import annotations

from cnnkit import viz


def spy_on_plots(monkeypatch, names) -> dict:
    """Wrap each ``cnnkit.viz`` function named in ``names`` (the pictures are still drawn); returns
    ``{name: [positional arguments of each call, in order]}``."""
    calls: dict = {}
    for name in names:
        original = getattr(viz, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            calls.setdefault(_name, []).append(args)
            return _original(*args, **kwargs)

        monkeypatch.setattr(viz, name, spy)
    return calls
