# %% [markdown]
# # Quickstart: LoRA supervised fine-tuning of a pretrained Gemma with kerasalign
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/kerasalign/kerasalign/blob/main/colab/01_quickstart_lora_sft.ipynb)
#
# A **pretrained (PT)** Gemma has only learned to continue text: give it a question and it
# tends to continue the page the question might appear on. An **instruction-tuned (IT)**
# model treats the prompt as a request. The step between them is **supervised fine-tuning
# (SFT)**: show the model prompts with the responses we want, in the chat format it will be
# used with, and train it to produce the responses.
#
# In this notebook you will:
#
# 1. load a PT Gemma with **LoRA** enabled (only two small low-rank matrices per adapted
#    layer train: `W = W0 + (alpha / r) A B`, so memory and storage stay small);
# 2. format instruction data with the **Gemma chat template** and see which tokens the loss
#    is computed on (the response only);
# 3. fine-tune with plain `compile()` / `fit()`;
# 4. compare generations before and after, and save the adapter.
#
# Everything runs on JAX, TensorFlow or PyTorch.

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

# %%
PRESET = os.environ.get("KERASALIGN_PRESET", "gemma3_1b" if IN_COLAB else "gemma3_270m_gguf")
STEPS = int(os.environ.get("KERASALIGN_STEPS", "60"))  # optimisation steps
BATCH_SIZE = 4
SEQUENCE_LENGTH = 256
LORA_RANK = 8
LEARNING_RATE = float(os.environ.get("KERASALIGN_LEARNING_RATE", "2e-4"))

# %% [markdown]
# ## Load the model with LoRA
# `load_causal_lm` returns a regular KerasHub `CausalLM`; `lora_rank` calls KerasHub's
# `enable_lora`, which freezes every original weight.

# %%
model = kerasalign.load_causal_lm(
    PRESET, lora_rank=LORA_RANK, lora_targets="all", sequence_length=SEQUENCE_LENGTH
)
counts = kerasalign.parameter_counts(model)
print(f"{type(model).__name__}: {counts['total']:,} parameters, "
      f"{counts['trainable']:,} trainable ({counts['trainable_fraction']:.2%})")

# %% [markdown]
# ## Before fine-tuning
# We ask the PT model three questions in Gemma's chat format. Expect continuations that
# ignore the request, or that repeat it.

# %%
from kerasalign.models.generation import generate

QUESTIONS = [
    "Give me three tips for a good night's sleep.",
    "What is 15 + 27?",
    "Write a two-line poem about the sea.",
]
before = generate(model, QUESTIONS, template="gemma", max_new_tokens=48)
for question, answer in zip(QUESTIONS, before):
    print(f">>> {question}\n{answer!r}\n")

# %% [markdown]
# ## The data and the template
# kerasalign ships a small instruction set written for it (`instructions`: writing, maths,
# coding, explanation, summaries). The Gemma template wraps each example in turns:
# `<start_of_turn>user ... <end_of_turn>` then `<start_of_turn>model ... <end_of_turn>`.

# %%
examples = kerasalign.datasets.load("instructions")
template = kerasalign.templates.get("gemma")
print(len(examples), "examples; the first one rendered:\n")
print(template.render(examples[0].conversation()))

# %% [markdown]
# `SFTPreprocessor` tokenizes the prompt and the response separately, shifts by one to make
# next-token targets, and gives each target a **sample weight**: 1 for the response and the
# closing `<end_of_turn>`, 0 for the prompt and the padding. Below, the weighted tokens are
# in brackets.

# %%
preprocessor = kerasalign.data.SFTPreprocessor(
    model.preprocessor.tokenizer, "gemma", SEQUENCE_LENGTH
)
x, y, sample_weight = preprocessor(examples[0])
tokenizer = model.preprocessor.tokenizer
pieces = []
for label, weight, real in zip(y, sample_weight, x["padding_mask"]):
    if real:
        piece = tokenizer.id_to_token(int(label))
        pieces.append(f"[{piece}]" if weight else piece)
print(" ".join(pieces))

# %% [markdown]
# ## Fine-tune with `fit`
# `SFTTrainer` is a `keras.Model` that wraps the CausalLM. Its loss is the cross-entropy
# averaged over the **response tokens only** (`reduction="mean_with_sample_weight"`): with
# Keras' default reduction the zero-weight prompt and padding positions would count in the
# denominator and the loss would read far too low.

# %%
x, y, sample_weight = preprocessor.batch(examples)
print(preprocessor.report.summary())
trainer = kerasalign.SFTTrainer(model)
trainer.compile(learning_rate=LEARNING_RATE)
steps_per_epoch = max(1, len(y) // BATCH_SIZE)
history = trainer.fit(
    x, y, sample_weight=sample_weight, batch_size=BATCH_SIZE,
    epochs=max(1, STEPS // steps_per_epoch), steps_per_epoch=min(STEPS, steps_per_epoch),
)

# %%
import matplotlib.pyplot as plt

plt.plot(history.history["loss"], marker="o")
plt.xlabel("epoch")
plt.ylabel("loss (mean over response tokens)")
plt.title("LoRA SFT")
plt.show()

# %% [markdown]
# ## After fine-tuning
# The same questions, the same greedy decoding. With the real model and a few hundred steps
# the answers become answers; with `tiny_gemma` they stay noise (random weights).

# %%
after = generate(model, QUESTIONS, template="gemma", max_new_tokens=48)
for question, old, new in zip(QUESTIONS, before, after):
    print(f">>> {question}\nbefore: {old!r}\nafter:  {new!r}\n")

# %% [markdown]
# ## Save, reload, merge
# An adapter is a few megabytes even for large models. `merge_adapter` folds it into the base
# weights for a plain KerasHub preset that anyone can load with `from_preset`.

# %%
import tempfile

adapter_dir = os.path.join(tempfile.mkdtemp(), "quickstart_adapter")
kerasalign.save_adapter(model, adapter_dir)
print(sorted(os.listdir(adapter_dir)))

reloaded = kerasalign.load_causal_lm(PRESET, sequence_length=SEQUENCE_LENGTH)
kerasalign.load_adapter(reloaded, adapter_dir)
print(generate(reloaded, QUESTIONS[:1], template="gemma", max_new_tokens=16))

# %% [markdown]
# ## Next
# - `02_safety_sft`: safety data, quality checks, and refusal / over-refusal evaluation.
# - `03_reward_model_and_dpo`: teach preferences with a reward model and DPO.
# - The same job from a terminal: `kerasalign sft --preset gemma3_270m_gguf --data my.jsonl --output runs/sft`.
