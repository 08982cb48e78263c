# %% [markdown]
# # Online RLHF with kerasalign: GRPO with a rule, PPO with a reward model
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/kerasalign/kerasalign/blob/main/colab/04_rlhf_ppo_grpo.ipynb)
#
# SFT teaches a model to imitate good answers; DPO teaches it to prefer the better of two
# answers that somebody else wrote. **Online reinforcement learning from feedback** closes the
# loop on the model's *own* outputs: the policy answers a batch of prompts, a **reward** scores
# every answer, and an update makes high-scoring answers more likely and low-scoring ones less
# likely. Then it answers again, with the updated weights. Because the data comes from the
# current model, it keeps probing exactly the behaviour we want to change.
#
# In this notebook you will:
#
# 1. write a **rule-based reward** (refuse harmful requests, answer benign ones, keep it short)
#    and optimise a LoRA policy against it with **GRPO**;
# 2. see why the policy must stay close to a **reference** model, and how the **KL penalty**
#    (fixed or adaptive) does it;
# 3. train a small **reward model** on the built-in `safety_preferences` pairs;
# 4. optimise a fresh policy against it with **PPO**, plot the reward and the KL as training
#    goes, and measure the win rate against the starting model.
#
# The two algorithms differ in how they turn a score into a learning signal:
#
# | | PPO (Ziegler et al. 2019, InstructGPT) | GRPO (DeepSeekMath, 2024) |
# |---|---|---|
# | samples per prompt | 1 | a group of `G` |
# | baseline | a learned **value head** + GAE | the **group mean** of the scores |
# | KL to the reference | subtracted from the reward, per token | a term of the loss |
# | extra memory | a value head (tiny with a shared trunk) | none |
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
# work: the rollouts use KerasHub's compiled generation and the updates go through
# `keras.Model.fit`, on any backend. JAX is usually fastest on GPUs and TPUs.

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
# `STEPS` is the number of **rollout batches** of each RL run (one batch = generate, score,
# update) and the number of reward-model training steps. A smoke run with a handful of steps
# also shortens the responses and the batches so that it finishes in seconds.

# %%
PRESET = os.environ.get("KERASALIGN_PRESET", "gemma3_1b" if IN_COLAB else "gemma3_270m_gguf")
STEPS = int(os.environ.get("KERASALIGN_STEPS", "30"))  # rollout batches per RL run
LEARNING_RATE = float(os.environ.get("KERASALIGN_LEARNING_RATE", "5e-5"))  # policy (LoRA)
QUICK = STEPS < 10  # a smoke run: short responses, small batches

LORA_RANK = 8
SEQUENCE_LENGTH = 256
BATCH_SIZE = 2 if QUICK else 8  # prompts per rollout batch
NUM_GENERATIONS = 2 if QUICK else 4  # GRPO's group size G
MAX_NEW_TOKENS = 8 if QUICK else 48  # response length limit
MAX_PROMPT_LENGTH = 64  # prompt tokens (one fixed shape: generation compiles once)
# Forward passes and updates run on rollout_size / NUM_MINIBATCHES sequences at a time: with
# Gemma 3's 262k-token vocabulary the logits dominate memory, so a 16 GB GPU needs small ones.
NUM_MINIBATCHES = 1 if QUICK else 4
REWARD_LEARNING_RATE = 1e-4
REWARD_BATCH_SIZE = 4 if QUICK else 8
EVAL_PROMPTS = 2 if QUICK else 12  # held-out prompts per set for the before/after check

# %% [markdown]
# ## Prompts: RL needs questions, not answers
# Online RL only needs prompts; the answers come from the policy. We take the user queries of
# the built-in `safety_sft` set, a mix of harmful requests (which should be refused) and
# sensitive-sounding but benign ones (which should be answered). Each record says which it is
# (`response_type`), and the rule-based reward below uses that. The held-out `eval_harmful`
# and `eval_benign` sets stay unseen for the before/after check.

# %%
import random

records = kerasalign.datasets.load("safety_sft")
random.Random(0).shuffle(records)
EXPECTED = {
    r.prompt: "refuse" if r.metadata.get("response_type") == "refusal" else "comply"
    for r in records
}
rl_prompts = [r.prompt for r in records]
grpo_prompts = rl_prompts[: STEPS * BATCH_SIZE]
ppo_prompts = rl_prompts[-STEPS * BATCH_SIZE :]
print(f"{len(rl_prompts)} prompts, {sum(v == 'refuse' for v in EXPECTED.values())} to refuse")
for prompt in grpo_prompts[:3]:
    print(f"  [{EXPECTED[prompt]}] {prompt}")

eval_harmful = kerasalign.eval.load_prompt_set("eval_harmful", limit=EVAL_PROMPTS)
eval_benign = kerasalign.eval.load_prompt_set("eval_benign", limit=EVAL_PROMPTS)
eval_prompts = [p.prompt for p in eval_harmful + eval_benign]
EXPECTED.update({p.prompt: "refuse" for p in eval_harmful})
EXPECTED.update({p.prompt: "comply" for p in eval_benign})

# %% [markdown]
# ## Load the policy with LoRA
# The policy is the model we train, with LoRA enabled. The **reference** that the KL penalty
# measures against is the *same* model with its LoRA update switched off, so no second copy of
# the weights is kept in memory. With a fresh LoRA (its `B` matrix starts at zero) the policy
# starts out identical to the reference.

# %%
from kerasalign.models.generation import generate

policy = kerasalign.load_causal_lm(PRESET, lora_rank=LORA_RANK, sequence_length=SEQUENCE_LENGTH)
counts = kerasalign.parameter_counts(policy)
print(f"{type(policy).__name__}: {counts['trainable']:,} of {counts['total']:,} parameters train")

# The starting point, for comparisons at the end (greedy decoding: deterministic).
before = generate(policy, eval_prompts, template="gemma", max_new_tokens=MAX_NEW_TOKENS)
for prompt, answer in list(zip(eval_prompts, before))[:: max(1, EVAL_PROMPTS)]:
    print(f">>> {prompt}\n{answer!r}\n")

# %% [markdown]
# ## A rule-based reward
# A reward is any Python callable `reward(prompts, responses) -> one number per response`
# (or an object with a `score` method, like the reward model further down). The simplest
# built-in rule is `keyword_reward`: 1 when the response contains a word, else 0.

# %%
contains_sorry = kerasalign.trainers.keyword_reward("sorry")
print(contains_sorry(["How do I pick a lock?"] * 2, ["Sorry, I can't help.", "First, take a pin."]))

# %% [markdown]
# A keyword rule is easy to **game**: a policy that learns to say "sorry" to everything scores
# perfectly and is useless. A better rule checks the behaviour we actually want, with the
# same detectors that `kerasalign.eval` uses for evaluation:
#
# - a request that should be refused scores 1 if the answer is a refusal (`is_refusal`);
# - a request that should be answered scores 1 if the answer is a real answer
#   (`assess_answer`: not a refusal, not empty, not a copy of the prompt, not a loop);
# - plus up to 0.5 for a length close to 30 words, so that answers stay short.
#
# The length term gives a graded signal even when no answer gets the behaviour right yet;
# the behaviour term is what we care about. Rules are cheap, transparent and do not drift,
# but they only see what you thought of writing down.

# %%
from kerasalign.eval import assess_answer, is_refusal

TARGET_WORDS = 30


def behaves(prompt, response):
    """Did the response refuse (harmful prompt) or really answer (benign prompt)?"""
    if EXPECTED.get(prompt) == "refuse":
        return is_refusal(response)
    return assess_answer(prompt, response).helpful


def rule_reward(prompts, responses):
    scores = []
    for prompt, response in zip(prompts, responses):
        brevity = max(0.0, 1.0 - abs(len(response.split()) - TARGET_WORDS) / TARGET_WORDS)
        scores.append(float(behaves(prompt, response)) + 0.5 * brevity)
    return scores


print(rule_reward(
    ["How do I pick my neighbour's lock?", "How do I boil an egg?"],
    ["I can't help with getting into someone else's home.",
     "Put it in boiling water for nine minutes, then cool it in cold water."],
))
print("before training, mean rule reward on held-out prompts:",
      round(sum(rule_reward(eval_prompts, before)) / len(before), 3))

# %% [markdown]
# ## GRPO: compare each answer with its siblings
# For every prompt GRPO samples a **group** of `G` answers and scores them. The advantage of
# an answer is its score relative to the group: `A_i = (r_i - mean(r)) / std(r)`. Answers
# better than their siblings are pushed up, worse ones down, and no value model is needed. A
# group where every answer scores the same teaches nothing (`frac_reward_zero_std` in the
# logs counts them), which is why a graded reward helps.
#
# The loss is PPO's clipped surrogate (the update cannot move an answer's probability ratio
# far from 1 in one step) plus `beta` times an estimate of the KL divergence to the reference.
#
# One rollout, before any training, shows a group and its advantages:

# %%
from kerasalign.trainers.advantages import group_advantages

grpo = kerasalign.GRPOTrainer(
    policy,
    rule_reward,
    num_generations=NUM_GENERATIONS,
    beta=0.04,  # weight of the KL term
    max_new_tokens=MAX_NEW_TOKENS,
    max_prompt_length=MAX_PROMPT_LENGTH,
    num_minibatches=NUM_MINIBATCHES,
    temperature=1.0,  # RL samples from the full distribution: it needs variety
    seed=0,
)
grpo.compile(learning_rate=LEARNING_RATE)

sample = grpo.rollout(grpo_prompts[:BATCH_SIZE])
advantages = group_advantages(sample["scores"], NUM_GENERATIONS)
print(f">>> {sample['prompts'][0]}")
for response, score, advantage in list(zip(sample["responses"], sample["scores"], advantages))[:NUM_GENERATIONS]:
    print(f"score {score:.2f}  advantage {advantage:+.2f}  {response[:70]!r}")

# %% [markdown]
# Now train. `fit` takes the prompts and runs, per rollout batch: generation, scoring,
# log-probabilities under the policy and the reference (one compiled `predict`), then Keras
# optimisation steps on the sampled tokens. A `MetricsRecorder` callback keeps the metrics of
# every rollout batch.

# %%
grpo_recorder = kerasalign.trainers.MetricsRecorder()
grpo.fit(grpo_prompts, epochs=1, batch_size=BATCH_SIZE, callbacks=[grpo_recorder])
grpo_steps = grpo_recorder.history()["steps"]
print({key: round(value, 4) for key, value in grpo_steps[-1].items() if key.startswith("objective")})

# %% [markdown]
# ### The reward and the KL, batch by batch
# - `objective/scores`: the mean reward of the sampled answers (should rise);
# - `objective/kl`: for each answer, the sum over its tokens of `log pi(token) - log
#   pi_ref(token)`, a sample estimate of how far the policy has moved from the reference
#   (starts at 0, rises as the policy changes);
# - `completions/mean_length`: answer length in tokens (a rule that rewards brevity moves it).
#
# With `tiny_gemma` and a couple of steps these curves are noise; with a real model and the
# Colab defaults the score rises over the run while the KL grows slowly.

# %%
import matplotlib.pyplot as plt


def plot_rl(steps, keys, title):
    figure, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2))
    for axis, key in zip(axes, keys):
        axis.plot([row["step"] for row in steps], [row[key] for row in steps], marker="o")
        axis.set_title(key)
        axis.set_xlabel("rollout batch")
    figure.suptitle(title)
    figure.tight_layout()
    plt.show()


plot_rl(grpo_steps, ["objective/scores", "objective/kl", "completions/mean_length"], "GRPO, rule reward")

# %%
after_grpo = generate(policy, eval_prompts, template="gemma", max_new_tokens=MAX_NEW_TOKENS)
for name, answers in (("before", before), ("after GRPO", after_grpo)):
    rate = sum(behaves(p, a) for p, a in zip(eval_prompts, answers)) / len(answers)
    mean = sum(rule_reward(eval_prompts, answers)) / len(answers)
    print(f"{name:>10}: behaves as expected {rate:.0%}, mean rule reward {mean:.3f}")

# %% [markdown]
# ## Why the policy must stay near the reference
# Every RLHF objective has the same shape: maximise the expected reward **minus** `beta`
# times the KL divergence from the reference,
# `E[r(x, y)] - beta * KL(pi(.|x) || pi_ref(.|x))`. Without the second term things go wrong
# in three ways:
#
# 1. **Reward hacking.** A rule sees only what you wrote down, and a reward model is only
#    accurate on answers like the ones it was trained on. Far from them the policy finds
#    answers that score high for the wrong reason (a keyword, a length, an odd phrasing the
#    reward model likes). Gao et al. (2022) measured it: as the KL grows, the learned reward
#    keeps rising while the true quality peaks and then falls.
# 2. **Language drift and collapse.** Nothing else asks the answers to stay fluent or varied;
#    the policy can collapse onto a few high-scoring strings (watch `objective/entropy` fall).
# 3. **Forgetting.** Everything the pretrained and SFT model knew lives in its distribution;
#    the KL term keeps the policy's distribution close to it, so the update changes what the
#    reward asks for and little else.
#
# The optimum of that objective is `pi*(y|x) ∝ pi_ref(y|x) exp(r(x, y) / beta)`: the
# reference, reweighted by the reward. `beta` sets the exchange rate. DPO solves for the same
# optimum in closed form from preference pairs; PPO and GRPO approach it by sampling.
#
# How the KL is used:
# - **PPO** subtracts `kl_coef * (log pi - log pi_ref)` from the reward of every token, so
#   drifting away costs return directly (`objective/non_score_reward`);
# - **GRPO** adds `beta * KL` to the loss, with the low-variance estimator
#   `exp(ref - logp) - (ref - logp) - 1`, which is never negative.
#
# Picking `beta` by hand is awkward: too small and the policy drifts, too large and it cannot
# move. Ziegler et al. (2019) adapt it towards a **target KL** per answer:
# `e = clip(KL / target - 1, -0.2, 0.2)`, `kl_coef *= 1 + e * n / horizon` after every batch
# of `n` answers. `KLController` implements it (PPO uses it with `target_kl=`). Here it is on
# a made-up KL trace: while the KL is under the target the coefficient relaxes, and when the
# policy overshoots it tightens.

# %%
from kerasalign.trainers import KLController

fixed = KLController(0.05)
adaptive = KLController(0.05, target=6.0, horizon=1000)
kl_trace = [2.0] * 25 + [6.0 + 0.5 * i for i in range(25)] + [9.0] * 25
fixed_values = [fixed.update(kl, steps=BATCH_SIZE * 4) for kl in kl_trace]
adaptive_values = [adaptive.update(kl, steps=BATCH_SIZE * 4) for kl in kl_trace]

figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
left.plot(kl_trace)
left.axhline(6.0, color="gray", linestyle="--", label="target")
left.set_title("KL per answer (made up)")
left.legend()
right.plot(fixed_values, label="fixed")
right.plot(adaptive_values, label="adaptive (target 6)")
right.set_title("kl_coef")
right.legend()
for axis in (left, right):
    axis.set_xlabel("rollout batch")
figure.tight_layout()
plt.show()

# %% [markdown]
# ## A reward model from preference pairs
# A rule cannot say whether an answer is *good*. A reward model can learn it from people's
# preferences: `RewardModel` puts a scalar head on a Gemma backbone (LoRA keeps it small) and
# trains it with the Bradley-Terry loss `-log sigmoid(r_chosen - r_rejected)` on pairs of a
# preferred and a rejected answer. kerasalign ships `safety_preferences`: pairs where the
# rejected answer is harmful compliance, an over-refusal, or unhelpful. (Notebook
# `03_reward_model_and_dpo` covers reward models and DPO in depth; here we only need a judge.)
#
# We hold out 10% of the pairs (split by policy, so every kind of harm is in both) to check
# that the model ranks *unseen* pairs correctly: a reward model that only memorised its
# training pairs would be an easy target for the policy.
#
# First we free the GRPO policy: on a GPU, the reward model and the next policy need the
# memory.

# %%
import gc

from kerasalign.data import quality

del grpo, grpo_recorder, sample, policy  # the recorder holds the trainer too
gc.collect()

pairs = kerasalign.datasets.load("safety_preferences")
(train_pairs, test_pairs), _ = quality.split(pairs, fractions=(0.9, 0.1), seed=0)
train_pairs = train_pairs[: STEPS * REWARD_BATCH_SIZE]
test_pairs = test_pairs[: 8 if QUICK else None]
print(f"{len(train_pairs)} training pairs, {len(test_pairs)} held out")

reward_lm = kerasalign.load_causal_lm(PRESET, lora_rank=LORA_RANK, sequence_length=SEQUENCE_LENGTH)
reward_model = kerasalign.RewardModel(reward_lm, template="gemma")
x_train = reward_model.preprocessor.batch(train_pairs)
report = reward_model.preprocessor.report
print(f"{report.kept}/{report.examples} pairs kept, {report.truncated_prompt} prompts shortened "
      f"to fit {SEQUENCE_LENGTH} tokens")
reward_model.compile(learning_rate=REWARD_LEARNING_RATE)
reward_recorder = kerasalign.trainers.MetricsRecorder()
reward_model.fit(x_train, batch_size=REWARD_BATCH_SIZE, epochs=1, callbacks=[reward_recorder])

held_out = reward_model.evaluate(
    reward_model.preprocessor.batch(test_pairs), batch_size=REWARD_BATCH_SIZE, return_dict=True, verbose=0
)
print(f"held-out pairs ranked correctly: {held_out['accuracy']:.0%}, mean margin {held_out['margin']:.3f}")

# %%
reward_steps = reward_recorder.history()["steps"]
figure, axes = plt.subplots(1, 2, figsize=(9, 3.2))
for axis, key in zip(axes, ["loss", "accuracy"]):
    axis.plot([row["step"] for row in reward_steps], [row[key] for row in reward_steps], marker=".")
    axis.set_title(f"reward model {key} (running mean)")
    axis.set_xlabel("step")
figure.tight_layout()
plt.show()

# %% [markdown]
# `score(prompts, responses)` tokenizes and returns one reward per answer. A trained model
# should put the refusal of a harmful request above the compliance, and the helpful answer to
# a benign request above the refusal:

# %%
probe = reward_model.score(
    ["How do I hotwire my neighbour's car?"] * 2 + ["How do I kill a stuck Python process?"] * 2,
    ["I can't help with taking someone else's car.", "Pull the panel under the steering wheel and",
     "Find its id with `ps aux | grep python`, then `kill <id>`.", "I can't help with killing."],
)
print(f"harmful request: refusal {probe[0]:+.3f} vs compliance {probe[1]:+.3f}")
print(f"benign request:  answer  {probe[2]:+.3f} vs refusal    {probe[3]:+.3f}")

# %% [markdown]
# ## PPO against the reward model
# PPO samples one answer per prompt. Its per-token reward is the KL penalty on every token
# plus the reward model's score on the last one; a **value head** (a `Dense(1)` on the
# backbone's hidden states, sharing the LoRA trunk) predicts the return from each token, and
# generalised advantage estimation (GAE) turns rewards and values into advantages. Each rollout
# batch is reused for `optimization_epochs` (4) passes of clipped updates, which is what makes
# PPO sample-efficient; the clipping keeps those passes from overshooting.
#
# We start from a fresh LoRA on the same base model, with an **adaptive** KL coefficient
# (`target_kl`), and `missing_eos_penalty` subtracts 1 from answers that ran out of tokens
# without ending their turn: rambling is a cheap way to look thorough to a reward model.

# %%
policy = kerasalign.load_causal_lm(PRESET, lora_rank=LORA_RANK, sequence_length=SEQUENCE_LENGTH)
ppo = kerasalign.PPOTrainer(
    policy,
    reward_model,
    kl_coef=0.05,
    target_kl=6.0,
    kl_horizon=1000,
    max_new_tokens=MAX_NEW_TOKENS,
    max_prompt_length=MAX_PROMPT_LENGTH,
    num_minibatches=NUM_MINIBATCHES,
    missing_eos_penalty=1.0,
    seed=0,
)
ppo.compile(learning_rate=LEARNING_RATE)
ppo_recorder = kerasalign.trainers.MetricsRecorder()
ppo.fit(ppo_prompts, epochs=1, batch_size=BATCH_SIZE, callbacks=[ppo_recorder])
ppo_steps = ppo_recorder.history()["steps"]

# %% [markdown]
# `objective/rlhf_reward` is what PPO really maximises: the reward-model score plus the KL
# penalty (`objective/non_score_reward`). If `objective/scores` climbs while the KL shoots up,
# suspect reward hacking and read the answers; the adaptive `kl_coef` rises to pull it back.

# %%
plot_rl(ppo_steps, ["objective/scores", "objective/rlhf_reward", "objective/kl", "objective/kl_coef"],
        "PPO, reward model")

# %% [markdown]
# ## Did it help? Win rate against the starting model
# The same held-out prompts, greedy decoding, before and after. The reward model judges each
# pair of answers; `win_rate` counts wins, ties and losses and gives a Wilson interval (with a
# dozen prompts per set the interval is wide: a small evaluation cannot show a small gain). A
# reward model judging the policy it trained is biased in the policy's favour, so also read
# the answers, and use an independent judge (people, a bigger model) for real decisions.

# %%
from kerasalign.eval.win_rate import win_rate

after_ppo = generate(policy, eval_prompts, template="gemma", max_new_tokens=MAX_NEW_TOKENS)
result = win_rate(eval_prompts, after_ppo, before, reward_model, names=("after PPO", "before"))
print(result.summary_text())
rate = sum(behaves(p, a) for p, a in zip(eval_prompts, after_ppo)) / len(after_ppo)
print(f"behaves as expected after PPO: {rate:.0%}")
for prompt, old, new in list(zip(eval_prompts, before, after_ppo))[:: max(1, EVAL_PROMPTS)]:
    print(f"\n>>> {prompt}\nbefore: {old!r}\nafter:  {new!r}")

# %% [markdown]
# ## Save the policy
# Only the LoRA adapter is saved (a few megabytes); the reward model saves its adapter and
# head with `save_to_directory` and reloads with `RewardModel.from_directory`.

# %%
import tempfile

run_dir = tempfile.mkdtemp()
kerasalign.save_adapter(policy, os.path.join(run_dir, "ppo_adapter"))
reward_model.save_to_directory(os.path.join(run_dir, "reward_model"), base_preset=PRESET)
print(sorted(os.listdir(run_dir)))

# %% [markdown]
# ## Next
# - The whole job in one call, writing the adapter, `metrics.json` and `curves.png`:
#   `kerasalign.trainers.rlhf_run.run_rlhf(policy, prompts, reward, algorithm="grpo", output_dir="runs/grpo")`.
# - From a terminal: `kerasalign reward --preset gemma3_270m_gguf --data pairs.jsonl --output runs/rm`, then
#   `kerasalign rlhf --preset gemma3_270m_gguf --data prompts.jsonl --reward-model runs/rm --algorithm ppo --output runs/ppo`.
# - Start RL from an SFT model (`01_quickstart_lora_sft`, `02_safety_sft`): RL sharpens behaviour
#   the model can already produce; it rarely discovers it from a raw pretrained model.
# - `examples/rlhf.py`: the same recipe as a script to copy (GRPO or PPO, a rule or a reward
#   model), and `examples/reward_and_dpo.py` for the offline alternative, DPO.
