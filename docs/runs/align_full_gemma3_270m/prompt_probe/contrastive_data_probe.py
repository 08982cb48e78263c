"""Does the contrastive data lift the frozen probe's ceiling? (see README.md)

The probe of probe.py (mean-pooled decoder-block features of the frozen base
270M, class-balanced logistic regression), trained on the 858 built-in
training prompts alone and again with the 226 prompts of
`contrastive_safety_sft`, tested on the held-out eval_harmful / eval_benign.

    KERAS_BACKEND=jax python contrastive_data_probe.py out.json [features_cache.npz]
"""
import json
import os
import sys
import time

import numpy as np
from probe_common import BlockFeatures, fit, prompts, rates

LAYERS = [3, 6, 9]
out_path = sys.argv[1]
cache = sys.argv[2] if len(sys.argv) > 2 else None
t0 = time.time()
features = BlockFeatures(LAYERS)


if cache and os.path.exists(cache):
    z = np.load(cache)
    Xtr, ytr, Xte, yte = z["Xtr"], z["ytr"], z["Xte"], z["yte"]
else:
    texts, ytr = prompts(["safety_sft", "benign_sensitive_sft", "instructions"])
    Xtr = features(texts)
    texts, yte = prompts(["eval_harmful", "eval_benign"])
    Xte = features(texts)
    if cache:
        np.savez(cache, Xtr=Xtr, ytr=ytr, Xte=Xte, yte=yte)
texts, ynew = prompts(["contrastive_safety_sft"])
Xnew = features(texts)
print(f"features in {time.time() - t0:.0f}s: {Xtr.shape[1]} + {Xnew.shape[1]} train, {Xte.shape[1]} test", flush=True)


results = {}
for k, layer in enumerate(LAYERS):
    for l2 in (0.3, 1.0):
        for label, X, y in [
            ("builtin", Xtr[k], ytr),
            ("builtin+contrastive", np.concatenate([Xtr[k], Xnew[k]]), np.concatenate([ytr, ynew])),
        ]:
            key = f"mean, block {layer}, l2={l2}, {label}"
            results[key] = dict(rates(fit(X, y, l2)(Xte[k]), yte), train_prompts=len(y))
            print(key, json.dumps(results[key]), flush=True)
with open(out_path, "w") as f:
    json.dump(results, f, indent=1)
print(f"done in {time.time() - t0:.0f}s")
