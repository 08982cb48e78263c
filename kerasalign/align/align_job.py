"""`AlignJob`: pretrained model -> safety SFT -> reward model -> DPO -> report.

The main job of kerasalign, run by `kerasalign align`:

1. `base_eval`: the pretrained model answers the held-out harmful and benign
   prompts (Gemma chat template); refusals and real answers are counted.
2. `sft`: LoRA SFT on the built-in instructions plus safety data.
3. `sft_eval`: the same evaluation with the SFT adapter.
4. `reward`: a reward model (LoRA + scalar head) on the preference pairs.
5. with `dpo_on_policy` (`kerasalign align --dpo-on-policy`): `dpo_pairs`,
   the SFT model answers training prompts whose right behaviour is known,
   and each mistake becomes one more DPO pair with its own answer rejected
   (`kerasalign.align.on_policy_pairs`).
   `dpo`: DPO continuing the SFT adapter, with the SFT model (adapter on,
   log-probs precomputed in one pass) as the reference.
6. `dpo_eval`: the same evaluation with the DPO adapter.
7. with `rlhf="grpo"` or `"ppo"` (`kerasalign align --rlhf grpo`): `rlhf`,
   online RLHF against the reward model with a fresh LoRA on the merged DPO
   model (also the KL reference), and `rlhf_eval`.
8. `report`: win rates of the preference-tuned models over SFT judged by the
   reward model, and one report (`report/report.md`, `report.json`, plots)
   comparing the stages.

Every stage writes into its own directory under the output and is skipped
when the job is re-run with the same output, the same settings and the same
built-in data (see `StageRunner`; a release with new data re-runs the stages
that read it).

Examples:

>>> import tempfile
>>> from kerasalign.align.align_settings import AlignSettings
>>> settings = AlignSettings.for_run("tiny_gemma", quick=True)
>>> [stage.name for stage in AlignJob(settings, tempfile.mkdtemp()).stages()]
['base_eval', 'sft', 'sft_eval', 'reward', 'dpo', 'dpo_eval', 'report']
"""

import json
import pathlib
import random

import keras

from kerasalign import datasets
from kerasalign.align.stage_runner import Stage, StageRunner
from kerasalign.models import (
    enable_lora,
    load_adapter,
    load_causal_lm,
    merge_adapter,
    save_adapter,
)

EVAL_FILE = "eval.json"
ON_POLICY_FILE = "pairs.jsonl"
SFT_CHUNK_SIZE = 64


def repeat_categories(examples, repeats, key=None):
    """`examples` with those of some `metadata["category"]` repeated.

    Args:
        examples: list of examples with a `metadata` dict.
        repeats: dict. `{category: times}`; a category not named is kept
            once.
        key: callable or None. The category of an example; defaults to
            its `metadata["category"]` (`rejected_kind` for preference
            pairs: `lambda pair: pair.rejected_kind`).

    Returns:
        A new list: every example, each repeated copy right after the
        original (training shuffles the order).

    Examples:

    >>> from kerasalign.data import SFTExample
    >>> rows = [SFTExample("a", "x", metadata={"category": "ordinary"}),
    ...         SFTExample("b", "y", metadata={"category": "benign_sensitive"})]
    >>> [row.prompt for row in repeat_categories(rows, {"benign_sensitive": 3})]
    ['a', 'b', 'b', 'b']
    """
    key = key or (lambda example: example.metadata.get("category"))
    repeated = []
    for example in examples:
        repeated += [example] * repeats.get(key(example), 1)
    return repeated


def _subset(records, count, seed):
    """A seeded shuffle of `records`, cut to `count` (all when `None`)."""
    records = list(records)
    random.Random(seed).shuffle(records)
    return records if count is None else records[:count]


class AlignJob:
    """The staged alignment pipeline of `kerasalign align`.

    Args:
        settings: `AlignSettings`.
        output_dir: str or path. Where every stage and the report go.
        log: callable. Receives progress lines. Defaults to `print`.
        verbose: Keras verbosity of training. Defaults to `"auto"`.
    """

    def __init__(self, settings, output_dir, log=print, verbose="auto"):
        self.settings = settings
        self.output_dir = pathlib.Path(output_dir)
        self.log = log
        self.verbose = verbose

    # ------------------------------------------------------------------ utils
    def _model(self, adapter=None, **kwargs):
        s = self.settings
        model = load_causal_lm(s.preset, sequence_length=s.sequence_length, dtype=s.dtype, **kwargs)
        if adapter is not None:
            load_adapter(model, adapter)
        return model

    def _merged_dpo_model(self):
        """The DPO model with its adapter merged: RLHF's base and KL reference."""
        return merge_adapter(self._model(self._stage_dir("dpo") / "adapter"))

    def _stage_model(self, stage):
        """The model a stage produced (`None`: the pretrained model)."""
        if stage is None:
            return self._model()
        if stage == "rlhf":
            model = self._merged_dpo_model()
            load_adapter(model, self._stage_dir("rlhf") / "train" / "adapter")
            return model
        return self._model(self._stage_dir(stage) / "adapter")

    def _progress(self):
        """Progress bars of generation: on unless training is silent (`--json`)."""
        return 0 if self.verbose == 0 else 1

    def _stage_dir(self, name):
        return self.output_dir / name

    def _eval_result(self, stage):
        from kerasalign.eval.safety_result import SafetyEvalResult

        data = json.loads((self._stage_dir(stage) / EVAL_FILE).read_text())
        return SafetyEvalResult.from_dict(data)

    def _reward_model(self):
        from kerasalign.trainers.reward_model import RewardModel

        return RewardModel.from_directory(self._stage_dir("reward") / "reward_model")

    def _fit(self, trainer, x, epochs):
        """`fit_with_guards` with the run's batch size, buckets and seed."""
        from kerasalign.trainers.training_run import fit_with_guards

        s = self.settings
        return fit_with_guards(
            trainer,
            x,
            epochs=epochs,
            batch_size=s.batch_size,
            verbose=self.verbose,
            bucket_multiple=s.bucket_multiple,
            seed=s.seed,
        )

    def _optimizer(self, learning_rate, x, epochs):
        """AdamW with the run's learning-rate schedule over the pairs `x`."""
        from kerasalign.trainers.compile_defaults import adamw_for_run

        s = self.settings
        rows = len(next(iter(x.values())))
        return adamw_for_run(
            learning_rate, s.lr_schedule, s.warmup_ratio, rows=rows, batch_size=s.batch_size, epochs=epochs
        )

    @staticmethod
    def _record(directory, history, summary, plot_name, title):
        """Write a stage's `train/metrics.json` and curves (no weights)."""
        from kerasalign.trainers.training_run import write_run_outputs

        write_run_outputs(
            directory / "train", lambda staging: [], history, dict(summary), {plot_name: (title, None)}
        )

    # ----------------------------------------------------------------- stages
    def _evaluate(self, adapter_stage):
        def run(directory, results):
            from kerasalign.eval.safety_eval import evaluate_safety

            s = self.settings
            model = self._stage_model(adapter_stage)
            result = evaluate_safety(
                model,
                "eval_harmful",
                "eval_benign",
                template=s.template,
                max_new_tokens=s.max_new_tokens,
                batch_size=s.eval_batch_size,
                limit=s.eval_limit,
                verbose=self._progress(),
            )
            data = result.to_dict()
            (directory / EVAL_FILE).write_text(json.dumps(data, indent=2, default=str))
            summary = data.get("summary", {})
            self.log(f"    {summary}")
            return {"summary": summary}

        return run

    def _sft(self, directory, results):
        from kerasalign.trainers.sft_run import run_sft

        s = self.settings
        examples = _subset(
            [example for name in self._sft_sets() for example in datasets.load(name)],
            s.sft_examples,
            s.seed,
        )
        examples = repeat_categories(examples, s.sft_repeat)
        model = self._model(lora_rank=s.lora_rank, lora_targets=s.lora_targets)
        summary = run_sft(
            model,
            examples,
            template=s.template,
            epochs=s.sft_epochs,
            batch_size=s.batch_size,
            learning_rate=s.sft_learning_rate,
            lr_schedule=s.lr_schedule,
            warmup_ratio=s.warmup_ratio,
            output_dir=directory / "train",
            verbose=self.verbose,
            seed=s.seed,
            bucket_multiple=s.bucket_multiple,
            # Logits only at response positions, 64 at a time: with Gemma 3's
            # 262k vocabulary the output layer is most of a step.
            chunk_size=SFT_CHUNK_SIZE,
        )
        save_adapter(model, directory / "adapter")
        return {
            "examples": summary["examples"],
            "first_step_loss": summary["first_step_loss"],
            "final": summary["final"],
            "train_seconds": summary["train_seconds"],
        }

    def _sft_sets(self):
        """The built-in SFT datasets of this run."""
        return ["instructions", "safety_sft", *self._extra_sets("sft")]

    def _preference_sets(self):
        """The built-in preference datasets of this run."""
        return ["safety_preferences", *self._extra_sets("preferences")]

    def _extra_sets(self, kind):
        """The opt-in built-in datasets of this run, `kind` "sft" or "preferences"."""
        s = self.settings
        chosen = [("benign_sensitive", s.more_benign_data), ("contrastive_safety", s.contrastive_data)]
        return [f"{prefix}_{kind}" for prefix, wanted in chosen if wanted]

    def _pairs(self):
        s = self.settings
        pairs = [pair for name in self._preference_sets() for pair in datasets.load(name)]
        return _subset(pairs, s.preference_pairs, s.seed)

    def _reward(self, directory, results):
        from kerasalign.trainers.reward_model import RewardModel

        s = self.settings
        backbone_model = self._model(lora_rank=s.lora_rank, lora_targets=s.lora_targets)
        reward_model = RewardModel(backbone_model, template=s.template)
        x = reward_model.preprocessor.batch(self._pairs())
        reward_model.compile(optimizer=self._optimizer(s.reward_learning_rate, x, s.reward_epochs))
        history, seconds = self._fit(reward_model, x, s.reward_epochs)
        summary = {"final": history["epochs"][-1], "train_seconds": seconds}
        self._record(directory, history, summary, "reward_curves.png", "Reward model")
        reward_model.save_to_directory(directory / "reward_model", base_preset=s.preset)
        return summary

    def _on_policy_candidates(self):
        """Training prompts with known right answers: preference set, then safety SFT."""
        s = self.settings
        candidates = self._pairs() + _subset(datasets.load("safety_sft"), None, s.seed)
        return candidates if s.dpo_on_policy_prompts is None else candidates[: s.dpo_on_policy_prompts]

    def _dpo_pairs(self, directory, results):
        from kerasalign.align.on_policy_pairs import mine_preference_pairs
        from kerasalign.data.writers import write_jsonl

        s = self.settings
        pairs, summary = mine_preference_pairs(
            self._stage_model("sft"),
            self._on_policy_candidates(),
            template=s.template,
            max_new_tokens=s.max_new_tokens,
            batch_size=s.eval_batch_size,
            verbose=self._progress(),
        )
        write_jsonl(pairs, directory / ON_POLICY_FILE)
        self.log(f"    {summary['pairs']} pairs from {summary['prompts']} answers: {summary['by_rejected_kind']}")
        return summary

    def _dpo_training_pairs(self):
        """The preference pairs, plus the SFT model's mistakes with `dpo_on_policy`, with `dpo_repeat`."""
        from kerasalign.data.readers import load_preferences

        pairs = self._pairs()
        mined = self._stage_dir("dpo_pairs") / ON_POLICY_FILE
        # No mistakes (or only empty answers) leaves an empty file.
        if self.settings.dpo_on_policy and mined.stat().st_size > 0:
            pairs += load_preferences(str(mined))
        return repeat_categories(pairs, self.settings.dpo_repeat, key=lambda pair: pair.rejected_kind)

    def _dpo(self, directory, results):
        from kerasalign.data.preference_preprocessor import PreferencePreprocessor
        from kerasalign.trainers.dpo_trainer import DPOTrainer, memory_saving_logprobs
        from kerasalign.trainers.reference import reference_logprobs

        s = self.settings
        # The policy continues the SFT adapter; the reference is the SFT model
        # itself (adapter on), scored once before training.
        policy = self._model(self._stage_dir("sft") / "adapter")
        preprocessor = PreferencePreprocessor(
            policy.preprocessor.tokenizer, s.template, s.sequence_length
        )
        x = preprocessor.batch(self._dpo_training_pairs())
        x = {
            **x,
            **reference_logprobs(
                policy,
                x,
                batch_size=s.batch_size,
                disable_lora=False,
                bucket_multiple=s.bucket_multiple,
            ),
        }
        trainer = DPOTrainer(
            policy,
            loss="sigmoid",
            beta=s.dpo_beta,
            rpo_alpha=s.dpo_rpo_alpha,
            **memory_saving_logprobs(policy),
        )
        trainer.compile(optimizer=self._optimizer(s.dpo_learning_rate, x, s.dpo_epochs))
        history, seconds = self._fit(trainer, x, s.dpo_epochs)
        save_adapter(policy, directory / "adapter")
        summary = {"first_step": history["steps"][0], "final": history["epochs"][-1], "train_seconds": seconds}
        self._record(directory, history, summary, "dpo_curves.png", "DPO")
        return summary

    def _rlhf(self, directory, results):
        from kerasalign.trainers.rlhf_run import run_rlhf

        s = self.settings
        policy = self._merged_dpo_model()
        enable_lora(policy, s.lora_rank, targets=s.lora_targets)
        prompts = _subset([pair.prompt for pair in self._pairs()], s.rlhf_prompts, s.seed + 1)
        extra = {"num_generations": s.rlhf_num_generations} if s.rlhf == "grpo" else {}
        if s.rlhf_kl is not None:
            extra["beta" if s.rlhf == "grpo" else "kl_coef"] = s.rlhf_kl
        summary = run_rlhf(
            policy,
            prompts,
            self._reward_model(),
            algorithm=s.rlhf,
            epochs=s.rlhf_epochs,
            batch_size=s.rlhf_batch_size,
            learning_rate=s.rlhf_learning_rate,
            lr_schedule=s.lr_schedule,
            warmup_ratio=s.warmup_ratio,
            output_dir=directory / "train",
            base={"preset": s.preset, "merged_adapter": "dpo/adapter"},
            verbose=self.verbose,
            seed=s.seed,
            template=s.template,
            max_new_tokens=s.rlhf_max_new_tokens,
            **extra,
        )
        return {
            "prompts": len(prompts),
            "first_step": summary["first_step"],
            "last_step": summary["last_step"],
            "final": summary["final"],
            "train_seconds": summary["train_seconds"],
        }

    def _report(self, directory, results):
        from kerasalign.eval.report import write_report
        from kerasalign.eval.safety_eval import relabel
        from kerasalign.eval.win_rate import compare_results

        judge = self._reward_model()
        # The reward model came after the evaluations: score every stage's
        # responses with it now, without generating again.
        rlhf = self.settings.rlhf is not None
        names = ("base", "sft", "dpo") + (("rlhf",) if rlhf else ())
        stages = {
            name: relabel(self._eval_result(f"{name}_eval"), judge=judge) for name in names
        }
        comparisons = [compare_results(stages["dpo"], stages["sft"], names=("dpo", "sft"))]
        if rlhf:
            comparisons += [
                compare_results(stages["rlhf"], stages["sft"], names=("rlhf", "sft")),
                compare_results(stages["rlhf"], stages["dpo"], names=("rlhf", "dpo")),
            ]
        on_policy = ["dpo_pairs"] if self.settings.dpo_on_policy else []
        timed = ["base_eval", "sft", "sft_eval", "reward", *on_policy, "dpo", "dpo_eval"]
        timed += ["rlhf", "rlhf_eval"] if rlhf else []
        seconds = {
            name: json.loads((self._stage_dir(name) / "stage.json").read_text())["seconds"]
            for name in timed
        }
        histories = {name: self._stage_dir(name) / "train" for name in ("sft", "dpo")}
        stage_info = {
            "base": {"wall_seconds": round(seconds["base_eval"], 1)},
            "sft": {"wall_seconds": round(seconds["sft"] + seconds["sft_eval"], 1)},
            "dpo": {
                "wall_seconds": round(
                    sum(seconds[name] for name in ["reward", *on_policy, "dpo", "dpo_eval"]), 1
                )
            },
        }
        if rlhf:
            histories["rlhf"] = self._stage_dir("rlhf") / "train"
            stage_info["rlhf"] = {"wall_seconds": round(seconds["rlhf"] + seconds["rlhf_eval"], 1)}
        report = write_report(
            directory,
            stages,
            comparisons=comparisons,
            histories=histories,
            stage_info=stage_info,
            metadata={
                "preset": self.settings.preset,
                "backend": keras.config.backend(),
                "settings": self.settings.to_dict(),
                "stage_seconds": seconds,
            },
        )
        result = {
            "summary": report.get("summary"),
            "win_rate_dpo_over_sft": comparisons[0].to_dict(),
            "stage_seconds": seconds,
        }
        if rlhf:
            result["win_rate_rlhf_over_sft"] = comparisons[1].to_dict()
            result["win_rate_rlhf_over_dpo"] = comparisons[2].to_dict()
        return result

    # -------------------------------------------------------------- pipeline
    def stages(self):
        """The pipeline's stages, in order."""
        s = self.settings.to_dict()

        def pick(*keys):
            return {key: s[key] for key in keys}

        def data(*names):
            # The built-in data a stage reads: new or edited data re-runs it.
            return {"data": datasets.digest(*names)}

        model = ("preset", "sequence_length", "template")
        # Joins every stage's settings only when given: runs made before it existed keep their stages.
        model += ("dtype",) if self.settings.dtype is not None else ()
        evaluation = {**pick(*model, "eval_limit", "max_new_tokens"), **data("eval_harmful", "eval_benign")}
        # Each stage depends on its own settings and on the stages it reads:
        # retuning SFT keeps the reward model, retuning DPO keeps SFT, and a
        # new evaluation setting re-runs no training.
        training = (*model, "batch_size", "bucket_multiple", "lora_rank", "lora_targets", "seed")
        # Joins the training settings only when used: runs made before it existed keep their stages.
        if (self.settings.lr_schedule, self.settings.warmup_ratio) != ("constant", 0.0):
            training += ("lr_schedule", "warmup_ratio")
        sft_keys = ("sft_examples", "sft_repeat", "sft_epochs", "sft_learning_rate")
        reward_keys = ("preference_pairs", "reward_epochs", "reward_learning_rate")
        on_policy = self.settings.dpo_on_policy
        # `dpo_on_policy`, `dpo_repeat` and `dpo_rpo_alpha` join DPO's settings only when used,
        # so that runs made before they existed keep their DPO stage.
        dpo_keys = ("preference_pairs", "dpo_epochs", "dpo_learning_rate", "dpo_beta")
        dpo_keys += ("dpo_on_policy",) if on_policy else ()
        dpo_keys += ("dpo_repeat",) if self.settings.dpo_repeat else ()
        dpo_keys += ("dpo_rpo_alpha",) if self.settings.dpo_rpo_alpha else ()
        # Read and hashed once: the reward model, DPO and RLHF all read the pairs.
        preference_data = data(*self._preference_sets())
        sft_settings = {**pick(*sft_keys, *training), **data(*self._sft_sets())}
        reward_settings = {**pick(*reward_keys, *training), **preference_data}
        dpo_settings = {**pick(*dpo_keys, *training), **preference_data}
        stages = [
            Stage("base_eval", self._evaluate(None), cost=1.0, settings=evaluation),
            Stage("sft", self._sft, cost=2.0, settings=sft_settings, depends_on=()),
            Stage("sft_eval", self._evaluate("sft"), cost=1.0, settings=evaluation, depends_on=("sft",)),
            Stage("reward", self._reward, cost=1.0, settings=reward_settings, depends_on=()),
        ]
        if on_policy:
            mining = {**pick(*model, "preference_pairs", "dpo_on_policy_prompts", "max_new_tokens", "seed"),
                      **data(*self._preference_sets(), "safety_sft")}
            stages.append(Stage("dpo_pairs", self._dpo_pairs, cost=1.5, settings=mining,
                                depends_on=("sft",)))
        dpo_inputs = ("sft", "dpo_pairs") if on_policy else ("sft",)
        stages += [
            Stage("dpo", self._dpo, cost=1.5, settings=dpo_settings, depends_on=dpo_inputs),
            Stage("dpo_eval", self._evaluate("dpo"), cost=1.0, settings=evaluation, depends_on=("dpo",)),
        ]
        if self.settings.rlhf is not None:
            rlhf_keys = [key for key in s if key.startswith("rlhf")]
            rlhf_settings = {**pick(*rlhf_keys, *training), **preference_data}
            stages += [
                Stage("rlhf", self._rlhf, cost=2.0, settings=rlhf_settings, depends_on=("dpo", "reward")),
                Stage("rlhf_eval", self._evaluate("rlhf"), cost=1.0, settings=evaluation,
                      depends_on=("rlhf",)),
            ]
        # The report reads every evaluation and the reward model.
        everything = tuple(stage.name for stage in stages)
        return stages + [Stage("report", self._report, cost=0.1, depends_on=everything)]

    def run(self):
        """Run (or resume) every stage; returns `{stage: result}`."""
        return StageRunner(self.output_dir, log=self.log).run(self.stages())
