"""Settings of the `kerasalign align` job: data sizes, steps and rates.

`--quick` makes a short run that still shows the effect: a subset of the
built-in data, one epoch per stage, and an evaluation on a policy-balanced
subset of the held-out prompts. The full run uses everything.

Examples:

>>> settings = AlignSettings.for_run(preset="gemma3_270m_gguf", quick=True)
>>> settings.eval_limit, settings.sft_epochs
(20, 1)
>>> AlignSettings.for_run(preset="tiny_gemma", quick=True).eval_limit
6
>>> AlignSettings.for_run(preset="gemma3_270m_gguf").sft_repeat
{'benign_sensitive': 2}
"""

import dataclasses

# SFT examples repeated in a full run: the built-in mix otherwise teaches a
# small model to refuse anything that sounds sensitive.
FULL_RUN_SFT_REPEAT = {"benign_sensitive": 2}


@dataclasses.dataclass
class AlignSettings:
    """Everything an align run depends on (a change re-runs later stages).

    Args:
        preset: str. The pretrained model.
        quick: bool. A short run.
        sft_examples: int or None. SFT examples used (None: all).
        preference_pairs: int or None. Preference pairs used (None: all).
        sft_repeat: dict. `{category: times}`: SFT examples whose
            `metadata["category"]` is named are repeated (e.g.
            `{"benign_sensitive": 2}` against over-refusal). Defaults to `{}`;
            `for_run` sets `FULL_RUN_SFT_REPEAT` for a full (not quick) run.
        more_benign_data: bool. Also train on the built-in
            `benign_sensitive_sft` examples (SFT) and
            `benign_sensitive_preferences` pairs (reward model, DPO): more
            help, fewer refusals (docs/runs/align_full_gemma3_270m/
            new_benign_data). Defaults to `False`.
        contrastive_data: bool. Also train on the built-in
            `contrastive_safety_sft` examples (SFT) and
            `contrastive_safety_preferences` pairs (reward model, DPO):
            harmful and benign prompts on the same topics. Defaults to
            `False`.
        dpo_repeat: dict. `{rejected_kind: times}`: preference pairs whose
            `rejected_kind` (`harmful_compliance`, `over_refusal`,
            `unhelpful`) is named are repeated in DPO, to balance refusing
            against answering. Defaults to `{}`.
        sft_epochs, reward_epochs, dpo_epochs: int. Epochs per stage.
        batch_size: int. Training batch size.
        bucket_multiple: int or None. Training batches hold rows of similar
            length, trimmed to a multiple of this many tokens (None: every
            batch padded to `sequence_length`).
        sequence_length: int. Tokens per training sequence.
        lora_rank: int. LoRA rank of SFT (continued by DPO) and the reward
            model.
        lora_targets: str. LoRA target layers.
        sft_learning_rate, reward_learning_rate, dpo_learning_rate: float.
        lr_schedule: str. The learning rate of SFT, the reward model, DPO
            and RLHF over each stage's updates: `"constant"`, `"linear"` or
            `"cosine"` decay to zero (see
            `kerasalign.trainers.learning_rate_schedules`). Defaults to
            `"constant"`.
        warmup_ratio: float. Fraction of each stage's updates that warm the
            rate up linearly. Defaults to `0.0`.
        dpo_beta: float. DPO's beta.
        dpo_rpo_alpha: float. Weight of the chosen responses' NLL added to
            DPO's loss (RPO, see `DPOTrainer`). Defaults to `0.0`.
        dpo_on_policy: bool. Before DPO, the SFT model answers training
            prompts whose right behaviour is known and each of its mistakes
            becomes one more DPO pair, with its own answer as the rejected
            response (`kerasalign.align.on_policy_pairs`). Defaults to
            `False`.
        dpo_on_policy_prompts: int or None. Training prompts answered for
            `dpo_on_policy` (the preference-set prompts, then the safety SFT
            prompts; None: all of them).
        eval_limit: int or None. Prompts per evaluation set (None: all).
        max_new_tokens: int. Generated tokens per evaluation answer.
        eval_batch_size: int. Prompts per generation batch.
        template: str. Chat template.
        dtype: str or None. The model's dtype policy: `"float32"`,
            `"bfloat16"` (frozen weights and computations; the LoRA factors
            stay float32) or
            `"mixed_bfloat16"` (float32 weights, bfloat16 computations).
            Defaults to `None`: the preset's own (float32 for the GGUF
            import and the tiny presets).
        seed: int. Data order and sampling seed.
        rlhf: str or None. `"grpo"` or `"ppo"`: after DPO, online RLHF
            against the reward model (a fresh LoRA on the merged DPO model,
            which is also the KL reference), then its own evaluation.
            Defaults to `None` (no RLHF stage).
        rlhf_prompts: int or None. Preference-set prompts used by RLHF.
        rlhf_epochs: int. Passes over the RLHF prompts.
        rlhf_batch_size: int. Prompts per rollout batch.
        rlhf_num_generations: int. GRPO: responses per prompt.
        rlhf_max_new_tokens: int. Tokens per rollout response.
        rlhf_learning_rate: float.
        rlhf_kl: float or None. Weight of the KL penalty to the reference
            (GRPO's `beta`, PPO's `kl_coef`). Defaults to `None` (the
            trainer's default: 0.04 for GRPO, 0.05 for PPO).
    """

    preset: str
    quick: bool = False
    sft_examples: int | None = None
    preference_pairs: int | None = None
    sft_repeat: dict = dataclasses.field(default_factory=dict)
    dpo_repeat: dict = dataclasses.field(default_factory=dict)
    more_benign_data: bool = False
    contrastive_data: bool = False
    sft_epochs: int = 2
    reward_epochs: int = 1
    dpo_epochs: int = 1
    batch_size: int = 8
    bucket_multiple: int | None = 32
    sequence_length: int = 256
    lora_rank: int = 16
    lora_targets: str = "all"
    sft_learning_rate: float = 2e-4
    reward_learning_rate: float = 1e-4
    dpo_learning_rate: float = 5e-5
    lr_schedule: str = "constant"
    warmup_ratio: float = 0.0
    dpo_beta: float = 0.1
    dpo_rpo_alpha: float = 0.0
    dpo_on_policy: bool = False
    dpo_on_policy_prompts: int | None = None
    eval_limit: int | None = None
    max_new_tokens: int = 64
    eval_batch_size: int = 64
    template: str = "gemma"
    dtype: str | None = None
    seed: int = 0
    rlhf: str | None = None
    rlhf_prompts: int | None = 64
    rlhf_epochs: int = 1
    rlhf_batch_size: int = 4
    rlhf_num_generations: int = 4
    rlhf_max_new_tokens: int = 32
    rlhf_learning_rate: float = 5e-5
    rlhf_kl: float | None = None

    @classmethod
    def for_run(cls, preset, quick=False, **overrides):
        """Defaults for a run, tuned for tiny test models or real ones."""
        settings = cls(preset=preset, quick=quick)
        if quick:
            settings.sft_examples = 320
            settings.preference_pairs = 128
            settings.sft_epochs = 1
            settings.sequence_length = 192
            settings.eval_limit = 20
            settings.max_new_tokens = 40
            settings.rlhf_prompts = 16
            # Fewer batch shapes: each one costs a compile (~30 s for the
            # 270M on CPU), which 40 steps do not amortise.
            settings.bucket_multiple = 64
        else:
            # Measured on the 270M (docs/runs/align_full_gemma3_270m/
            # sft_repeat_benign_sensitive_2): twice the helpful answers to
            # sensitive-sounding prompts took the DPO model from 93% refused /
            # 54% helpful to 92% / 67%.
            settings.sft_repeat = dict(FULL_RUN_SFT_REPEAT)
        if preset.startswith("tiny_"):
            # Random tiny models need large steps to move at all, and their
            # answers are noise: keep the run short.
            settings.sft_examples = 48 if quick else settings.sft_examples
            settings.preference_pairs = 24 if quick else settings.preference_pairs
            settings.sequence_length = 128
            settings.eval_limit = 6 if quick else settings.eval_limit
            settings.max_new_tokens = 8 if quick else 16
            settings.sft_learning_rate = 1e-3
            settings.reward_learning_rate = 1e-3
            settings.dpo_learning_rate = 1e-3
            settings.rlhf_prompts = 4 if quick else 8
            settings.rlhf_max_new_tokens = 8
            settings.rlhf_learning_rate = 1e-3
        for key, value in overrides.items():
            if value is not None:
                setattr(settings, key, value)
        return settings

    def to_dict(self):
        return dataclasses.asdict(self)
