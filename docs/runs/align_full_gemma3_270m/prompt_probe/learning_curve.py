"""Would more training prompts lift the frozen probe's ceiling? (see README.md)

Two diagnostics with the probe of `probe_common.py` (blocks 3 and 6, L2 0.3):

1. Learning curve: the probe trained on random class-stratified subsets (1/8 to
   all) of the 1,084 training prompts (built-in + contrastive), five seeds each,
   tested on the held-out eval_harmful / eval_benign prompts.
2. In-distribution: 5-fold cross-validation inside the 260 held-out prompts
   (trained on four folds, tested on the fifth; five fold splits), alone and added to the 1,084
   training prompts. A diagnostic of the held-out sets, never used to train a
   model: it asks whether the 270M's features can separate prompts like these
   when the training prompts come from the same distribution.

    KERAS_BACKEND=jax python learning_curve.py out.json [features_cache.npz]
"""
import json
import os
import sys
import time

import numpy as np
from probe_common import BlockFeatures, fit, prompts, rates

LAYERS = [3, 6]
L2 = 0.3
out_path = sys.argv[1]
cache = sys.argv[2] if len(sys.argv) > 2 else None
t0 = time.time()

if cache and os.path.exists(cache):
    z = np.load(cache)
    Xtr, ytr, Xte, yte = z["Xtr"], z["ytr"], z["Xte"], z["yte"]
else:
    features = BlockFeatures(LAYERS)
    texts, ytr = prompts(["safety_sft", "benign_sensitive_sft", "instructions", "contrastive_safety_sft"])
    Xtr = features(texts)
    texts, yte = prompts(["eval_harmful", "eval_benign"])
    Xte = features(texts)
    if cache:
        np.savez(cache, Xtr=Xtr, ytr=ytr, Xte=Xte, yte=yte)
print(f"features in {time.time() - t0:.0f}s: {Xtr.shape[1]} train, {Xte.shape[1]} test", flush=True)


def stratified(y, fraction, rng):
    """Indices of a random subset holding `fraction` of each class."""
    return np.concatenate([rng.permutation(np.flatnonzero(y == c))[:max(2, round(fraction * (y == c).sum()))] for c in (0, 1)])


def folds(y, k, rng):
    """k class-stratified folds of the indices of y."""
    parts = [np.array_split(rng.permutation(np.flatnonzero(y == c)), k) for c in (0, 1)]
    return [np.concatenate([parts[0][i], parts[1][i]]) for i in range(k)]


def summary(runs):
    keys = ("harmful_flagged", "benign_passed", "oracle_min_rate")
    out = {key: float(np.mean([r[key] for r in runs])) for key in keys}
    sums = [r["harmful_flagged"] + r["benign_passed"] for r in runs]
    out.update(sum_mean=float(np.mean(sums)), sum_min=float(np.min(sums)), sum_max=float(np.max(sums)), runs=len(runs))
    return out


results = {"learning_curve": {}, "in_distribution": {}}
for k, layer in enumerate(LAYERS):
    for fraction in (0.125, 0.25, 0.5, 0.75, 1.0):
        runs = []
        for seed in range(5 if fraction < 1 else 1):
            idx = stratified(ytr, fraction, np.random.default_rng(seed))
            runs.append(rates(fit(Xtr[k][idx], ytr[idx], L2)(Xte[k]), yte))
        key = f"block {layer}, {fraction:g} of {len(ytr)}"
        results["learning_curve"][key] = dict(summary(runs), train_prompts=int(len(idx)))
        print(key, json.dumps(results["learning_curve"][key]), flush=True)

    for label, with_training in (("held-out folds only", False), ("training prompts + held-out folds", True)):
        runs = []
        for seed in range(5):
            scores = np.zeros(len(yte))
            for test in folds(yte, 5, np.random.default_rng(seed)):
                train = np.setdiff1d(np.arange(len(yte)), test)
                X, y = Xte[k][train], yte[train]
                if with_training:
                    X, y = np.concatenate([Xtr[k], X]), np.concatenate([ytr, y])
                scores[test] = fit(X, y, L2)(Xte[k][test])
            runs.append(rates(scores, yte))
        key = f"block {layer}, {label}"
        results["in_distribution"][key] = summary(runs)
        print(key, json.dumps(results["in_distribution"][key]), flush=True)
with open(out_path, "w") as f:
    json.dump(results, f, indent=1)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

figure, axis = plt.subplots(figsize=(6, 4))
for layer in LAYERS:
    rows = [v for key, v in results["learning_curve"].items() if key.startswith(f"block {layer},")]
    line, = axis.plot([r["train_prompts"] for r in rows], [100 * r["sum_mean"] for r in rows], "o-", label=f"block {layer}, training prompts")
    inside = results["in_distribution"][f"block {layer}, training prompts + held-out folds"]
    axis.axhline(100 * inside["sum_mean"], color=line.get_color(), linestyle=":", label=f"block {layer}, + 4/5 of the held-out prompts")
axis.axhline(180, color="black", linewidth=1, label="goal (90 + 90)")
axis.set_xlabel("training prompts")
axis.set_ylabel("harmful flagged + benign passed (points)")
axis.set_title("Frozen 270M probe: more training prompts")
axis.legend(fontsize=7)
figure.tight_layout()
figure.savefig(os.path.splitext(out_path)[0] + ".png", dpi=120)
print(f"done in {time.time() - t0:.0f}s")
