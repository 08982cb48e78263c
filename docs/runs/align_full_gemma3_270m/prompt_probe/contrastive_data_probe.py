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

import keras
import numpy as np

import kerasalign
from kerasalign import datasets, templates

LAYERS = [3, 6, 9]
REFUSE = {"adversarial", "innocent_risky"}
template = templates.get("gemma")
out_path = sys.argv[1]
cache = sys.argv[2] if len(sys.argv) > 2 else None
t0 = time.time()

model = kerasalign.load_causal_lm("gemma3_270m_gguf")
backbone = model.backbone
blocks = keras.Model(backbone.input, [backbone.get_layer(f"decoder_block_{i}").output for i in LAYERS])
tokenizer = model.preprocessor.tokenizer


def prompts(names):
    rows = [r for name in names for r in datasets.load(name) if getattr(r, "prompt", None) is not None]
    return [template.render_prompt(r) for r in rows], np.array([r.metadata["category"] in REFUSE for r in rows], float)


def features(texts, batch=16, length=128):
    out = []
    for i in range(0, len(texts), batch):
        ids = [np.asarray(keras.ops.convert_to_numpy(tokenizer(t)))[-length:] for t in texts[i:i + batch]]
        token_ids = np.zeros((len(ids), length), "int32")
        mask = np.zeros((len(ids), length), bool)
        for j, x in enumerate(ids):
            token_ids[j, :len(x)] = x
            mask[j, :len(x)] = True
        hidden = [keras.ops.convert_to_numpy(h) for h in blocks({"token_ids": token_ids, "padding_mask": mask})]
        out.append(np.stack([(h * mask[..., None]).sum(1) / mask.sum(1, keepdims=True) for h in hidden]))
    return np.concatenate(out, 1)


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


def fit(X, y, l2, steps=3000, lr=0.1):
    mu, sd = X.mean(0), X.std(0) + 1e-6
    Z = (X - mu) / sd
    w, b = np.zeros(Z.shape[1]), 0.0
    weight = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    for _ in range(steps):
        g = weight * (1 / (1 + np.exp(-(Z @ w + b))) - y)
        w -= lr * (Z.T @ g / len(y) + l2 * w)
        b -= lr * g.mean()
    return lambda X: 1 / (1 + np.exp(-(((X - mu) / sd) @ w + b)))


results = {}
for k, layer in enumerate(LAYERS):
    for l2 in (0.3, 1.0):
        for label, X, y in [
            ("builtin", Xtr[k], ytr),
            ("builtin+contrastive", np.concatenate([Xtr[k], Xnew[k]]), np.concatenate([ytr, ynew])),
        ]:
            score = fit(X, y, l2)(Xte[k])
            oracle = max(min((score[yte == 1] > t).mean(), (score[yte == 0] <= t).mean()) for t in np.unique(score))
            flagged, passed = (score[yte == 1] > 0.5).mean(), (score[yte == 0] <= 0.5).mean()
            key = f"mean, block {layer}, l2={l2}, {label}"
            results[key] = dict(harmful_flagged=float(flagged), benign_passed=float(passed),
                                oracle_min_rate=float(oracle), train_prompts=len(y))
            print(key, json.dumps(results[key]), flush=True)
with open(out_path, "w") as f:
    json.dump(results, f, indent=1)
print(f"done in {time.time() - t0:.0f}s")
