"""Can the 270M tell harmful from benign prompts once it is fine-tuned for it?

The linear probe (probe.py) reads the frozen base model. This trains the
same decision end to end: the 270M with LoRA (rank 16 on every target, as
the align job's SFT) and a scalar head on the last prompt token (the reward
model's head, `RewardModel.rewards`), binary cross-entropy with class
weights, on the same 858 training prompts (refuse: adversarial and
innocent_risky; answer: benign_sensitive and ordinary). After every epoch
it scores the held-out eval_harmful / eval_benign prompts: flagged harmful
at threshold 0, passed benign, and the best min over thresholds picked on
the test set (optimistic).

    KERAS_BACKEND=jax python finetuned_classifier.py OUT_JSON [--seed S]
        [--epochs E] [--learning-rate LR] [--rank R]
"""

import argparse
import json
import time

import keras
import numpy as np

import kerasalign
from kerasalign import datasets, templates
from kerasalign.trainers.reward_model import RewardModel

REFUSE = {"adversarial", "innocent_risky"}
LENGTH = 128

parser = argparse.ArgumentParser()
parser.add_argument("out_json")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--learning-rate", type=float, default=1e-4)
parser.add_argument("--rank", type=int, default=16)
parser.add_argument("--batch-size", type=int, default=8)
args = parser.parse_args()

keras.utils.set_random_seed(args.seed)
t0 = time.time()
causal_lm = kerasalign.load_causal_lm("gemma3_270m_gguf", lora_rank=args.rank, lora_targets="all")
template = templates.get("gemma")
tokenizer = causal_lm.preprocessor.tokenizer


def records(names):
    rows = []
    for name in names:
        for record in datasets.load(name):
            if getattr(record, "prompt", None) is None:
                continue
            rows.append((template.render_prompt(record), (record.metadata or {}).get("category")))
    return rows


def encode(rows):
    """Token ids of each prompt (the last LENGTH tokens)."""
    return [np.asarray(keras.ops.convert_to_numpy(tokenizer(text)))[-LENGTH:] for text, _ in rows]


def pad(ids, length):
    token_ids = np.zeros((len(ids), length), "int32")
    mask = np.zeros((len(ids), length), "int32")
    for row, x in enumerate(ids):
        token_ids[row, : len(x)] = x
        mask[row, : len(x)] = 1
    return {"token_ids": token_ids, "padding_mask": mask}


def bucket(n):
    """Pad to 32, 64 or 128 tokens: three compiled shapes, little padding."""
    return next(b for b in (32, 64, LENGTH) if n <= b)


class LengthBatches(keras.utils.PyDataset):
    """Batches of prompts of one length bucket, in a new random order each epoch."""

    def __init__(self, ids, labels, weights, batch_size, seed):
        super().__init__()
        self.ids, self.labels, self.weights = ids, labels, weights
        self.batch_size, self.rng = batch_size, np.random.default_rng(seed)
        self.on_epoch_end()

    def on_epoch_end(self):
        groups = {}
        for index in self.rng.permutation(len(self.ids)):
            groups.setdefault(bucket(len(self.ids[index])), []).append(index)
        self.batches = [
            group[i : i + self.batch_size]
            for group in groups.values()
            for i in range(0, len(group), self.batch_size)
        ]
        self.rng.shuffle(self.batches)

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        rows = self.batches[index]
        length = bucket(max(len(self.ids[row]) for row in rows))
        x = pad([self.ids[row] for row in rows], length)
        return x, self.labels[rows][:, None], self.weights[rows]


train = records(["safety_sft", "benign_sensitive_sft", "instructions"])
test = records(["eval_harmful", "eval_benign"])
ids_train, ids_test = encode(train), encode(test)
y_train = np.array([c in REFUSE for _, c in train], "float32")
y_test = np.array([c in REFUSE for _, c in test], "float32")
weights = np.where(y_train == 1, 0.5 / y_train.mean(), 0.5 / (1 - y_train.mean())).astype("float32")
print(f"train {len(train)} ({int(y_train.sum())} to refuse), test {len(test)}", flush=True)

scorer = RewardModel(causal_lm)


class PromptClassifier(keras.Model):
    def __init__(self, scorer):
        super().__init__()
        self.scorer = scorer

    def call(self, inputs, training=False):
        return self.scorer.rewards(inputs["token_ids"], inputs["padding_mask"], training)[:, None]


classifier = PromptClassifier(scorer)
classifier.compile(
    optimizer=keras.optimizers.AdamW(args.learning_rate, weight_decay=0.0),
    loss=keras.losses.BinaryCrossentropy(from_logits=True),
)


def predict(ids):
    """Scores of every prompt, each length bucket padded to its own length."""
    scores = np.zeros(len(ids), "float32")
    for length in (32, 64, LENGTH):
        rows = [row for row, x in enumerate(ids) if bucket(len(x)) == length]
        if rows:
            x = pad([ids[row] for row in rows], length)
            scores[rows] = classifier.predict(x, batch_size=16, verbose=0)[:, 0]
    return scores


def held_out(scores):
    harmful, benign = scores[y_test == 1], scores[y_test == 0]
    oracle = max(min((harmful > t).mean(), (benign <= t).mean()) for t in np.unique(scores))
    by_category = {}
    for (_, category), score in zip(test, scores, strict=True):
        by_category.setdefault(category, []).append(float(score > 0))
    return {
        "harmful_flagged": float((harmful > 0).mean()),
        "benign_passed": float((benign <= 0).mean()),
        "oracle_min_rate": float(oracle),
        "flagged_by_category": {c: float(np.mean(v)) for c, v in by_category.items()},
    }


history = []


class HeldOut(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        scores = predict(ids_test)
        train_scores = predict(ids_train)
        entry = {
            "epoch": epoch + 1,
            "loss": float(logs["loss"]),
            "train_accuracy": float(((train_scores > 0) == (y_train == 1)).mean()),
            **held_out(scores),
            "seconds": time.time() - t0,
            "held_out_scores": [round(float(score), 4) for score in scores],
        }
        history.append(entry)
        print(json.dumps({k: v for k, v in entry.items() if k != "held_out_scores"}), flush=True)


classifier.fit(
    LengthBatches(ids_train, y_train, weights, args.batch_size, args.seed),
    epochs=args.epochs,
    callbacks=[HeldOut()],
    verbose=2,
)
prompts = [{"prompt": text, "category": category} for text, category in test]
json.dump({"args": vars(args), "held_out": prompts, "epochs": history}, open(args.out_json, "w"), indent=1)
print(f"done in {time.time() - t0:.0f}s")
