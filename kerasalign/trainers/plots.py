"""PNG plots of training curves (matplotlib, no display needed).

Examples:

>>> import tempfile, os
>>> history = {"steps": [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}],
...            "epochs": [{"epoch": 1, "loss": 1.7, "val_loss": 1.9}]}
>>> path = os.path.join(tempfile.mkdtemp(), "curves.png")
>>> plot_training_curves(history, path, title="SFT")
>>> os.path.getsize(path) > 0
True
"""

# Figures are built with `matplotlib.figure.Figure`, not pyplot, so writing a
# PNG never changes the process-wide backend (a notebook keeps its inline plots).
from matplotlib.figure import Figure


def _metric_names(history, keys):
    names = []
    for row in history["steps"] + history["epochs"]:
        for key in row:
            base = key[4:] if key.startswith("val_") else key
            if key in ("step", "epoch") or base in names:
                continue
            if keys is None or base in keys:
                names.append(base)
    return names


def plot_training_curves(history, path, *, title="Training", keys=None):
    """Plot every metric: per-step training values and per-epoch validation.

    Args:
        history: dict with `steps` and `epochs` lists (see `MetricsRecorder`).
        path: str. Where to write the PNG.
        title: str. Figure title. Defaults to `"Training"`.
        keys: list of str. Metrics to plot. Defaults to all.
    """
    names = _metric_names(history, keys) or ["loss"]
    figure = Figure(figsize=(4.5 * len(names), 3.5))
    axes = figure.subplots(1, len(names), squeeze=False)
    steps_per_epoch = max(1, len(history["steps"]) // max(1, len(history["epochs"])))
    for axis, name in zip(axes[0], names, strict=True):
        step_rows = [row for row in history["steps"] if name in row]
        if step_rows:
            axis.plot(
                [row["step"] for row in step_rows],
                [row[name] for row in step_rows],
                label=f"train {name} (per step)",
                linewidth=1,
            )
        for prefix, style in (("", "o-"), ("val_", "s--")):
            epoch_rows = [row for row in history["epochs"] if prefix + name in row]
            if epoch_rows and (prefix or not step_rows):
                axis.plot(
                    [row["epoch"] * steps_per_epoch for row in epoch_rows],
                    [row[prefix + name] for row in epoch_rows],
                    style,
                    label=f"{'validation' if prefix else 'train'} {name} (per epoch)",
                )
        axis.set_xlabel("step")
        axis.set_title(name)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
