"""Can the base 270M's prompt representations tell harmful from benign prompts?

A linear probe (logistic regression, numpy) on the frozen base model's hidden
states of each chat-formatted prompt; trained on the built-in training
prompts (refuse: adversarial, innocent_risky; answer: benign_sensitive,
ordinary), tested on the held-out eval_harmful / eval_benign prompts.
"""
import sys, time, json
import numpy as np
import keras
import kerasalign
from kerasalign import datasets, templates

t0 = time.time()
model = kerasalign.load_causal_lm("gemma3_270m_gguf")
LAYERS = [3, 6, 9, 12, 15]
_bb = model.backbone
multi = keras.Model(_bb.input, [_bb.get_layer(f"decoder_block_{i}").output for i in LAYERS])
template = templates.get("gemma")
tokenizer = model.preprocessor.tokenizer
REFUSE = {"adversarial", "innocent_risky"}

def records(names):
    rows = []
    for name in names:
        for r in datasets.load(name):
            if getattr(r, "prompt", None) is None: continue
            rows.append((template.render_prompt(r), (r.metadata or {}).get("category")))
    return rows

train = records(["safety_sft", "benign_sensitive_sft", "instructions"])
test = records(["eval_harmful", "eval_benign"])

def features(rows, batch=16, length=96):
    out_mean, out_last = [], []
    for i in range(0, len(rows), batch):
        texts = [t for t, _ in rows[i:i + batch]]
        ids = [tokenizer(t) for t in texts]
        ids = [np.asarray(keras.ops.convert_to_numpy(x))[-length:] for x in ids]
        token_ids = np.zeros((len(ids), length), "int32"); mask = np.zeros((len(ids), length), bool)
        for j, x in enumerate(ids):
            token_ids[j, :len(x)] = x; mask[j, :len(x)] = True
        hs = [keras.ops.convert_to_numpy(h) for h in multi({"token_ids": token_ids, "padding_mask": mask})]
        m = mask[..., None]
        out_mean.append(np.stack([(h * m).sum(1) / m.sum(1) for h in hs]))
        out_last.append(np.stack([h[np.arange(len(ids)), mask.sum(1) - 1] for h in hs]))
    return np.concatenate(out_mean, 1), np.concatenate(out_last, 1)

Xtr_mean, Xtr_last = features(train); Xte_mean, Xte_last = features(test)
ytr = np.array([c in REFUSE for _, c in train], float); yte = np.array([c in REFUSE for _, c in test], float)
np.savez("/work/runs/probe_features.npz", Xtr_mean=Xtr_mean, Xtr_last=Xtr_last, Xte_mean=Xte_mean, Xte_last=Xte_last, ytr=ytr, yte=yte)
print(f"features in {time.time()-t0:.0f}s: train {len(train)} test {len(test)}", flush=True)

def fit(X, y, l2, steps=3000, lr=0.1):
    mu, sd = X.mean(0), X.std(0) + 1e-6
    Z = (X - mu) / sd
    w = np.zeros(Z.shape[1]); b = 0.0
    # balance classes
    cw = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(Z @ w + b)))
        g = cw * (p - y)
        w -= lr * (Z.T @ g / len(y) + l2 * w); b -= lr * g.mean()
    return lambda X: 1 / (1 + np.exp(-(((X - mu) / sd) @ w + b)))

results = {}
for name, Xtr, Xte in [(f"{kind}{layer}", A[k], B[k]) for kind, A, B in [("mean", Xtr_mean, Xte_mean), ("last", Xtr_last, Xte_last)] for k, layer in enumerate(LAYERS)]:
    for l2 in (0.1, 0.3, 1.0, 3.0):
        predict = fit(Xtr, ytr, l2)
        score = predict(Xte)
        ptr, pte = predict(Xtr) > 0.5, score > 0.5
        best = max((min((score[yte == 1] > t).mean(), (score[yte == 0] <= t).mean()), t) for t in np.unique(score))
        harm = pte[yte == 1].mean(); benign = 1 - pte[yte == 0].mean()
        cats = {}
        for (_, c), p in zip(test, pte):
            cats.setdefault(c, []).append(p)
        results[f"{name} l2={l2}"] = dict(oracle_min_rate=float(best[0]), train_acc=float((ptr == ytr).mean()), harmful_flagged=float(harm), benign_passed=float(benign),
            by_category={c: float(np.mean(v)) for c, v in cats.items()})
        print(name, l2, json.dumps(results[f"{name} l2={l2}"]), flush=True)
json.dump(results, open("/work/runs/probe_cls_layers.json", "w"), indent=1)
print(f"done in {time.time()-t0:.0f}s")
