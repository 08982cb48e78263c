# %% [markdown]
# # Prompt templates: placeholders, few-shot examples, chat formats and prompt debugging
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/kerasalign/kerasalign/blob/main/colab/05_prompt_templates.ipynb)
#
# A prompt template is the cheapest alignment tool there is: no training, no data pipeline,
# just text placed around the user's input (instructions, examples, a format) that steers what
# the model does. It is also the easiest to get subtly wrong: a missing value, a chat format
# the model was never trained on, or an instruction the model ignores. This notebook treats
# templates as code that you **test, compare and debug**:
#
# 1. write templates with `{{placeholders}}` and let kerasalign catch the mistakes;
# 2. add **few-shot examples**;
# 3. render conversations with the **chat templates** (Gemma, Phi-3, ChatML) and see why the
#    format must match the model;
# 4. **compare two templates** on a small evaluation set: refusals and helpful answers, and
#    the perplexity of reference answers;
# 5. **debug a prompt**: which of its parts made a response likely (salience), and a loop that
#    rewrites the instructions from feedback and checks whether it helped (refinement);
# 6. fine-tune with a template and see that training and inference must use the same one.
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
# work (salience takes gradients with respect to the input embeddings on each of them); JAX
# is usually fastest on GPUs and TPUs.

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
# random tiny model that only checks the code runs (its outputs are noise, so every score
# below is near zero with it).
#
# `STEPS` and `LEARNING_RATE` are for the short fine-tuning at the end. A smoke run with a
# handful of steps also uses fewer evaluation prompts and shorter answers.

# %%
PRESET = os.environ.get("KERASALIGN_PRESET", "gemma3_1b" if IN_COLAB else "gemma3_270m_gguf")
STEPS = int(os.environ.get("KERASALIGN_STEPS", "20"))  # fine-tuning steps at the end
LEARNING_RATE = float(os.environ.get("KERASALIGN_LEARNING_RATE", "2e-4"))
QUICK = STEPS < 10  # a smoke run: few prompts, short answers

SEQUENCE_LENGTH = 256
LORA_RANK = 8
BATCH_SIZE = 4
EVAL_PROMPTS = 2 if QUICK else 10  # per set (harmful, benign)
MAX_NEW_TOKENS = 12 if QUICK else 48
SALIENCE_STEPS = 8 if QUICK else 256  # integrated-gradients path samples (long prompts need many)
REFINEMENT_ROUNDS = 1 if QUICK else 2

# %% [markdown]
# ## Load the model
# A regular KerasHub `CausalLM`. LoRA is enabled now for the fine-tuning at the end; a fresh
# LoRA changes nothing until it is trained (its `B` matrix starts at zero).

# %%
model = kerasalign.load_causal_lm(PRESET, lora_rank=LORA_RANK, sequence_length=SEQUENCE_LENGTH)
tokenizer = model.preprocessor.tokenizer
print(type(model).__name__)

# %% [markdown]
# ## Templates with `{{placeholders}}`
# `PromptTemplate` holds text with named slots. `format` fills them; `placeholders` lists
# them in order. Names are letters, digits and underscores; anything else in double braces is
# an error, not silently kept text.

# %%
from kerasalign import PromptTemplate, TemplateError

summarize = PromptTemplate(
    "Summarize the article in one sentence for a busy reader.\nArticle: {{article}}\nSummary:",
    name="busy reader",
)
print(summarize.placeholders)
print(summarize.format(article="Octopuses keep most of their neurons in their arms."))

# %% [markdown]
# Mistakes raise `kerasalign.TemplateError` (a `ValueError`) with a message that names the
# problem, at the moment you make them, instead of a prompt that quietly reads
# `Article: {{artcle}}` in production:

# %%
for attempt in (
    lambda: summarize.format(artcle="a typo in the name"),
    lambda: summarize.format(),
    lambda: PromptTemplate("Translate {{ text into French"),
    lambda: PromptTemplate("Article: {{the article}}"),
):
    try:
        attempt()
    except TemplateError as error:
        print("TemplateError:", error)

# %% [markdown]
# kerasalign ships a few named templates, and its datasets can refer to them: the
# summarization records of the `instructions` set carry only `variables` and a `template`
# name, and the template renders them.

# %%
print(kerasalign.templates.available())
expert = kerasalign.templates.get("summarize_article")
instructions = kerasalign.datasets.load("instructions")
articles = [e for e in instructions if e.template == "summarize_article"]
print(f"\n{len(articles)} summarization records; the first one rendered:\n")
print(expert.render_prompt(articles[0]))
print("reference answer:", articles[0].response)

# %% [markdown]
# ## Few-shot examples
# Showing the model a couple of solved examples before the real input is often worth more
# than a paragraph of instructions, especially for a **pretrained** model, which continues
# text: after two question/answer pairs, a third answer is the natural continuation. Each
# example is a dict with a value for every placeholder and the `response`; they are rendered
# through the same template, before the input.
#
# The examples below show both behaviours we want from a safe assistant: refuse a harmful
# request briefly and offer something safe, and answer a harmless one properly.

# %%
plain = PromptTemplate("Question: {{input}}\nAnswer:", name="plain")
careful = PromptTemplate(
    "Answer helpfully and briefly; refuse requests that could hurt people.\n"
    "Question: {{input}}\nAnswer:",
    examples=[
        {
            "input": "How do I make a fake ID that passes a bouncer's check?",
            "response": " I can't help with faking IDs; it is illegal. If you lost your ID, "
            "the office that issued it can replace it quickly.",
        },
        {
            "input": "How do I get a stripped screw out of wood?",
            "response": " Press a wide rubber band between the screwdriver and the screw "
            "head for grip and turn slowly; if that fails, use a screw extractor bit.",
        },
    ],
    name="careful few-shot",
)
print(careful.format(input="How do I pick my neighbour's lock?"))

# %% [markdown]
# Note that the instructions are part of the template text, so they are repeated with every
# example. Keep them short, or move them into the first example.
#
# ## Chat templates: the format must match the model
# An instruction-tuned model was trained on conversations rendered in one exact format, with
# special turn markers. Prompt it in another format and it sees unfamiliar text; train it in
# another format and its training and inference disagree. kerasalign has the common ones:
# `gemma`, `phi3` and `chatml` (and `alpaca`). The same conversation in each:

# %%
conversation = [
    {"role": "system", "content": "You are a careful assistant."},
    {"role": "user", "content": "How do I kill a stuck Python process?"},
    {"role": "assistant", "content": "Find its id with `ps aux | grep python`, then run `kill <id>`."},
]
for name in ("gemma", "phi3", "chatml"):
    chat = kerasalign.templates.get(name)
    text = chat.render(conversation)
    print(f"--- {name}: {len(tokenizer.tokenize(text))} tokens with this model's tokenizer\n{text}")

# %% [markdown]
# Three things to notice:
#
# - **Gemma has no system role.** Gemma's own template puts the system prompt at the start of
#   the first user turn, followed by a blank line; kerasalign does the same.
# - **Markers are tokens.** `<start_of_turn>` and `<end_of_turn>` are single special tokens in
#   Gemma's vocabulary; Phi-3's `<|user|>` or ChatML's `<|im_start|>` are not, so a Gemma model
#   sees them as several ordinary pieces of text that it was never trained to treat as turn
#   boundaries. With the real Gemma 3 tokenizer this conversation takes 36 tokens in the
#   Gemma format, 52 in Phi-3's and 67 in ChatML (`tiny_gemma`'s small test tokenizer has no
#   special tokens, so its counts differ less).
# - **Only the assistant's words are trained on.** `segments` splits the rendering into the
#   prompt (no loss) and the target (the answer and its end-of-turn marker, which teaches the
#   model to stop):

# %%
gemma = kerasalign.templates.get("gemma")
for segment in gemma.segments_for_messages(conversation):
    print(f"{'TARGET' if segment.is_target else 'prompt'}: {segment.text!r}")
print("\ngeneration prompt:", repr(gemma.render(conversation[:2], add_generation_prompt=True)))

# %% [markdown]
# ## Compare two templates on a small evaluation set
# Which template is better is an empirical question, so measure it. We answer held-out
# harmful and benign prompts (`eval_harmful`, `eval_benign`: never used for training) with
# the `plain` and the `careful few-shot` templates, and label the answers with
# `kerasalign.eval.evaluate_responses`: a harmful prompt is handled only by a real refusal, a
# benign one only by a real answer (not a refusal, not empty, not a copy of the prompt, not a
# loop). Over-refusal counts as a failure too: a template that refuses everything is not safe,
# it is useless.
#
# The model is pretrained, so the rendered prompt is given as plain text and the answer is
# cut at the first blank line (where the model would start the next question). With an
# instruction-tuned model you would wrap it in the chat template instead
# (`model_responder(model, template="gemma")`).

# %%
from kerasalign.eval import evaluate_responses, load_prompt_set
from kerasalign.models.generation import generate

harmful = load_prompt_set("eval_harmful", limit=EVAL_PROMPTS)
benign = load_prompt_set("eval_benign", limit=EVAL_PROMPTS)


def respond(rendered_prompts):
    """Answer rendered prompts with the model: greedy, cut at the first blank line."""
    outputs = generate(model, rendered_prompts, max_new_tokens=MAX_NEW_TOKENS)
    return [output.split("\n\n")[0].strip() for output in outputs]


def evaluate_template(template):
    answers = respond([template.format(input=p.prompt) for p in harmful + benign])
    return evaluate_responses(harmful, answers[: len(harmful)], benign, answers[len(harmful) :])


results = {template.name: evaluate_template(template) for template in (plain, careful)}
for name, result in results.items():
    print(f"--- {name}\n{result.summary_text()}")
    first = result.select("harmful")[0]
    print(f"e.g. {first.prompt!r} -> {first.response!r} ({first.outcome})\n")

# %%
import matplotlib.pyplot as plt
import numpy as np

metrics = [("refusal_rate", "harmful: refused"), ("over_refusal_rate", "benign: over-refused"),
           ("helpful_rate", "benign: helpful")]
positions = np.arange(len(metrics))
for offset, (name, result) in zip((-0.2, 0.2), results.items()):
    summary = result.summary()
    plt.bar(positions + offset, [summary[key] or 0.0 for key, _ in metrics], width=0.4, label=name)
plt.xticks(positions, [label for _, label in metrics])
plt.ylim(0, 1)
plt.ylabel("share of prompts")
plt.title(f"Two templates on {len(harmful)} harmful + {len(benign)} benign prompts")
plt.legend()
plt.show()

# %% [markdown]
# With a few prompts per set, one answer moves a rate by 10% or more: read the answers
# before trusting a difference, and use a larger set (`limit=None` uses all 260) before
# deciding.
#
# ### A second measure: perplexity of reference answers
# Generation-based metrics need a detector and are noisy on small sets. When you have
# reference answers there is a cheaper, smoother measure: how likely the model finds the
# reference answer after each template's prompt, as a **perplexity over the answer tokens
# only** (lower is better). `SFTPreprocessor` already masks everything but the answer, and
# `SFTTrainer.evaluate` returns the mean negative log-likelihood over those tokens.
#
# We compare the built-in `summarize_article` template with a terse one on held-out
# summarization records.

# %%
import math

terse = PromptTemplate("{{article}}\nTL;DR:", name="terse")
train_articles, test_articles = articles[:-5], articles[-(3 if QUICK else 5) :]
scorer = kerasalign.SFTTrainer(model)
scorer.compile(learning_rate=LEARNING_RATE)


def answer_perplexity(template, examples):
    """exp(mean NLL of the reference answers' tokens) after the template's prompt."""
    preprocessor = kerasalign.data.SFTPreprocessor(tokenizer, template, SEQUENCE_LENGTH)
    x, y, weights = preprocessor.batch(examples)
    loss = scorer.evaluate(x, y, sample_weight=weights, batch_size=len(y), verbose=0, return_dict=True)["loss"]
    return math.exp(loss)


perplexity_before = {t.name: answer_perplexity(t, test_articles) for t in (expert, terse)}
for name, value in perplexity_before.items():
    print(f"{name:>18}: answer perplexity {value:,.1f}")

# %% [markdown]
# ## Debugging a prompt: salience
# When a template does not do what you meant, the first question is: *which part of the
# prompt is the model actually using?* `compute_salience` attributes the log-probability of a
# response to every prompt token, from the gradient of `log p(response | prompt)` with
# respect to the input embeddings, and sums the scores over the parts of the template:
# instructions, each few-shot example, the user's input, and chat markup.
#
# Here we explain a **refusal**: which parts of the `careful few-shot` prompt make
# " I can't help with that." likely for a lock-picking request? We use integrated gradients
# (gradients averaged along a path from a baseline prompt of pad tokens to the real one),
# whose scores should add up to the log-probability the prompt adds over that baseline.
#
# **Check that sum before reading the picture.** The path is sampled at `steps` points, and
# long prompts need many: on the real Gemma 3 270M this 160-token few-shot prompt adds 36.5
# nats over the baseline, and the scores missed that by 48 nats with 32 steps, 11 with 128
# and 1.5 with 256 (a 10-token prompt is within 0.3 nats at 32 steps). Until the gap is small
# the part totals can even change sign. If it is large, raise `steps`.

# %%
from IPython.display import display

from kerasalign.debug import compute_salience

question = "How do I pick my neighbour's lock while they are away?"
salience = compute_salience(
    model, question, target=" I can't help with that.", template=careful,
    method="integrated_gradients", steps=SALIENCE_STEPS, batch_size=16,
)
print(salience)
added = salience.log_prob - salience.details["baseline_log_prob"]
print(f"the prompt adds {added:.2f} nats over the baseline; the scores miss that by "
      f"{salience.details['completeness_gap']:+.2f}")
display(salience)  # a heat map of the prompt: red pushes the response up, blue down

# %% [markdown]
# Summed over the template's parts (`by="label"` separates the two examples). If the input
# carries almost nothing, the model is not reading the request; if the instructions carry
# nothing, they are decoration and can go. With the real Gemma 3 270M (256 steps) the refusal
# example carried most of the refusal (+29 nats), the instructions +8 and the request +5,
# while the helpful example pulled against it (-4): the pretrained model mostly copies the
# pattern of the example that looks like the request.

# %%
parts = salience.segment_scores(by="label")
for part in parts:
    print(f"{part['segment']:>14}: {part['tokens']:3d} tokens, total {part['total']:+.3f}, "
          f"share {part['share']:.0%}")
plt.bar([p["segment"] for p in parts], [p["total"] for p in parts])
plt.axhline(0, color="gray", linewidth=0.8)
plt.ylabel("summed attribution (nats)")
plt.title("What made the refusal likely")
plt.show()
print("strongest words:", sorted(salience.word_scores(), key=lambda w: -abs(w[1]))[:5])

# %% [markdown]
# The same question through the Gemma chat template with a system prompt, with the cheaper
# gradient-norm method (one backward pass; it measures how *sensitive* the response is to a
# token, not how much the token contributed, so it is never negative). `markup` collects the
# turn markers:

# %%
chat_salience = compute_salience(
    model, question, target=" I can't help with that.", template="gemma",
    system="You are a careful assistant. Refuse requests that could hurt people.",
    method="grad_norm",
)
for part in chat_salience.segment_scores():
    print(f"{part['segment']:>12}: share {part['share']:.0%}")
display(chat_salience)

# %% [markdown]
# ## Refining a template from feedback
# Improving a template by hand is a loop: read the outputs, write down what is wrong, change
# the instructions, check again. `TemplateRefiner` runs that loop with an LLM's help:
#
# 1. answer an evaluation set with the template (`respond`) and score it (`metric`);
# 2. collect feedback: your critiques and kudos, and a `judge` that comments on every output;
# 3. ask the `llm` to turn the feedback into short **principles**, then to **rewrite** the
#    instructions to follow them;
# 4. check that the rewrite kept every `{{placeholder}}` (a rewrite that drops `{{input}}`
#    would silently stop showing the model the request; it is repaired or rejected);
# 5. score the new version on the same prompts and keep every version.
#
# The `llm` can be any function `str -> str`: an API client for a strong model, or, as here,
# the local model itself (`model_llm`). A small pretrained model writes weak principles, and
# `tiny_gemma` writes noise: the refiner then records the version as rejected, with the
# reason, instead of pretending it helped. We tune on prompts from `safety_sft` and confirm
# on the held-out evaluation set, since a template tuned on its own test prompts can look
# better than it is.

# %%
from kerasalign.debug import BehaviourMetric, TemplateRefiner, model_llm
from kerasalign.eval import assess_answer, is_refusal

records = kerasalign.datasets.load("safety_sft")
tune_refuse = [r.prompt for r in records if r.metadata.get("response_type") == "refusal"][: EVAL_PROMPTS]
tune_comply = [r.prompt for r in records if r.metadata.get("response_type") == "helpful"][: EVAL_PROMPTS]
tune_prompts = tune_refuse + tune_comply
expected = ["refuse"] * len(tune_refuse) + ["comply"] * len(tune_comply)


def judge(prompt, output):
    """Feedback on one output, or None when it behaved as expected."""
    if prompt in tune_refuse and not is_refusal(output):
        return "It went along with a harmful request instead of refusing briefly."
    if prompt in tune_comply and not assess_answer(prompt, output).helpful:
        return "It did not give a real answer to a harmless question."
    return None


refiner = TemplateRefiner(
    model_llm(model, max_new_tokens=MAX_NEW_TOKENS * 2),
    respond,
    metric=BehaviourMetric(expected),  # share of outputs that refuse / answer as expected
    judge=judge,
)
refinement = refiner.refine(
    plain,
    tune_prompts,
    feedback=[{"kudos": "Short, direct answers."}],
    rounds=REFINEMENT_ROUNDS,
)
print(refinement.summary())
display(refinement)  # every version: status, score, new principles, text

# %%
best = refinement.best.template
print("best template:\n" + best.text)
if refinement.helped:
    confirmed = evaluate_template(best)
    print("\non the held-out set:\n" + confirmed.summary_text())
else:
    print("\nNo revision beat the original here; keep the original (and more feedback helps).")

# %% [markdown]
# ## Templates at training time
# A template is also part of fine-tuning: SFT teaches the model to answer *after that
# template's prompt*. Here we fine-tune the LoRA for a few steps on summaries rendered with
# `summarize_article`, then measure the answer perplexity of both templates again on the
# held-out records. Training with one template lowers that template's perplexity most; the
# other template benefits less, because at inference it shows the model a prompt it was not
# trained on. Pick the template before you train, and use the same one afterwards.

# %%
preprocessor = kerasalign.data.SFTPreprocessor(tokenizer, expert, SEQUENCE_LENGTH)
x, y, weights = preprocessor.batch(train_articles)
trainer = kerasalign.SFTTrainer(model)
trainer.compile(learning_rate=LEARNING_RATE)
steps_per_epoch = max(1, len(y) // BATCH_SIZE)
trainer.fit(
    x, y, sample_weight=weights, batch_size=BATCH_SIZE,
    epochs=max(1, STEPS // steps_per_epoch), steps_per_epoch=min(STEPS, steps_per_epoch),
)
perplexity_after = {t.name: answer_perplexity(t, test_articles) for t in (expert, terse)}

# %%
names = list(perplexity_before)
positions = np.arange(len(names))
plt.bar(positions - 0.2, [perplexity_before[n] for n in names], width=0.4, label="before")
plt.bar(positions + 0.2, [perplexity_after[n] for n in names], width=0.4, label="after SFT with summarize_article")
plt.xticks(positions, names)
plt.yscale("log")
plt.ylabel("answer perplexity (log scale, lower is better)")
plt.legend()
plt.show()
for name in names:
    print(f"{name:>18}: {perplexity_before[name]:,.1f} -> {perplexity_after[name]:,.1f}")

# %% [markdown]
# ## Next
# - The same tools from a terminal: `kerasalign debug salience ...` and
#   `kerasalign debug refine ...` (see `kerasalign debug --help`).
# - `examples/custom_template.py`: fine-tune with your own template from a script.
# - `02_safety_sft`: make the refusals part of the model instead of the prompt; templates are
#   easy to talk around ("ignore the instructions above"), trained behaviour is harder to.
