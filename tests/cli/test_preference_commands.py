"""`kerasalign reward` and `kerasalign dpo` from the command line."""

import json

import numpy as np
import pytest

import kerasalign
from kerasalign.cli import dpo_command
from kerasalign.data import to_dict
from kerasalign.trainers import losses


@pytest.fixture
def pairs_file(tmp_path):
    pairs = kerasalign.datasets.load("safety_preferences")[::50][:8]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(to_dict(pair)) + "\n" for pair in pairs))
    return path


TINY = ("--preset", "tiny_gemma", "--sequence-length", "64", "--lora-rank", "8", "--lora-targets", "all")


def test_reward_command_trains_and_writes_a_loadable_reward_model(run_cli, pairs_file, tmp_path):
    code, out, err, result = run_cli(
        "reward", *TINY, "--data", pairs_file, "--epochs", "4", "--batch-size", "4",
        "--learning-rate", "3e-3", "--output", tmp_path / "rm", "--json",
    )
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "rm").iterdir()) == [
        "adapter", "curves.png", "metrics.json", "reward_head.npz", "reward_model.json",
    ]
    metrics = json.loads((tmp_path / "rm" / "metrics.json").read_text())
    assert len(metrics["history"]["epochs"]) == 4 and "accuracy" in metrics["history"]["steps"][0]
    assert result["final"]["accuracy"] >= 0.9
    assert result["final"]["loss"] < 0.5 * result["first_step"]["loss"]
    reward_model = kerasalign.trainers.RewardModel.from_directory(tmp_path / "rm")
    pairs = kerasalign.data.load_preferences(str(pairs_file))
    chosen = reward_model.score([p.prompt for p in pairs], [p.chosen for p in pairs])
    rejected = reward_model.score([p.prompt for p in pairs], [p.rejected for p in pairs])
    assert (chosen > rejected).mean() >= 0.9


@pytest.mark.backend
def test_dpo_command_trains_with_validation_and_writes_outputs(run_cli, pairs_file, tmp_path):
    code, out, err, result = run_cli(
        "dpo", *TINY, "--data", pairs_file, "--validation-split", "0.25", "--epochs", "3",
        "--batch-size", "3", "--learning-rate", "5e-3", "--output", tmp_path / "dpo", "--json",
    )
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "dpo").iterdir()) == ["adapter", "curves.png", "metrics.json"]
    final = result["final"]
    assert final["rewards/accuracies"] >= 0.9 and final["rewards/margins"] > 0.5
    assert "val_rewards/margins" in final and result["validation_pairs"] == 2
    assert result["first_step"]["rewards/margins"] == pytest.approx(0.0, abs=1e-4)
    assert result["reference"] == "precomputed (LoRA on)" and result["tokens_per_second"] > 0
    metrics = json.loads((tmp_path / "dpo" / "metrics.json").read_text())
    assert metrics["summary"]["config"]["loss"] == "sigmoid"
    assert len(metrics["history"]["steps"]) == 3 * 2


def test_dpo_command_with_rpo_alpha_records_the_nll_term(run_cli, pairs_file, tmp_path):
    code, out, err, result = run_cli(
        "dpo", *TINY, "--data", pairs_file, "--epochs", "2", "--batch-size", "4",
        "--learning-rate", "5e-3", "--rpo-alpha", "1.0", "--output", tmp_path / "rpo", "--json",
    )
    assert code == 0, err
    metrics = json.loads((tmp_path / "rpo" / "metrics.json").read_text())
    assert metrics["summary"]["config"]["rpo_alpha"] == 1.0
    steps = metrics["history"]["steps"]
    assert steps[0]["nll_loss"] > 0 and steps[-1]["nll_loss"] < steps[0]["nll_loss"]
    # At the first step the policy is its reference: DPO's part is log 2.
    assert steps[0]["loss"] == pytest.approx(np.log(2.0) + steps[0]["nll_loss"], rel=1e-3)


@pytest.mark.parametrize("command", ["dpo", "reward"])
def test_gradient_accumulation_is_a_command_option(run_cli, pairs_file, tmp_path, command):
    # 8 pairs in micro-batches of 2, 2 per update: 4 batches, 2 updates.
    code, out, err, result = run_cli(
        command, *TINY, "--data", pairs_file, "--epochs", "1", "--batch-size", "2",
        "--gradient-accumulation-steps", "2", "--output", tmp_path / "out", "--json",
    )
    assert code == 0, err
    assert result["config"]["gradient_accumulation_steps"] == 2
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert len(metrics["history"]["steps"]) == 4



@pytest.mark.parametrize("command", ["dpo", "reward"])
def test_lr_schedule_is_a_command_option(run_cli, pairs_file, tmp_path, command):
    # 8 pairs in batches of 2 with 2 per update: the schedule counts the 4
    # batches (as Keras does): 1 of warmup, then 3 of linear decay.
    code, out, err, result = run_cli(
        command, *TINY, "--data", pairs_file, "--epochs", "1", "--batch-size", "2",
        "--gradient-accumulation-steps", "2", "--learning-rate", "1e-3", "--lr-schedule", "linear",
        "--warmup-ratio", "0.25", "--output", tmp_path / "out", "--json",
    )
    assert code == 0, err
    assert (result["config"]["lr_schedule"], result["config"]["warmup_ratio"]) == ("linear", 0.25)
    steps = json.loads((tmp_path / "out" / "metrics.json").read_text())["history"]["steps"]
    assert [step["learning_rate"] for step in steps] == pytest.approx([1e-3, 1e-3, 2e-3 / 3, 1e-3 / 3])

@pytest.mark.parametrize(
    "content, match",
    [
        ('{"prompt": "Q", "chosen": "A", "rejected": "B"}\n{"prompt": "Q", "chosen": "A"}\n',
         'line 2, field "rejected": missing'),
        ('{"prompt": "Q", "chosen": "Same", "rejected": "Same"}\n', "identical"),
        ('{"prompt": "Hi", "response": "Hello"}\n', "use load_sft"),
        ('{"prompt": "Q", "chosen": "A", "rej', "line 1"),
    ],
    ids=["missing_field", "identical", "sft_data", "truncated"],
)
@pytest.mark.parametrize("command", ["reward", "dpo"])
def test_bad_preference_data_exits_2_with_one_line(run_cli, tmp_path, command, content, match):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    code, out, err, _ = run_cli(command, "--preset", "tiny_gemma", "--data", path, "--output", tmp_path / "out")
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and match in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "extra, match",
    [
        (("--beta", "0"), "beta must be a number > 0.0"),
        (("--loss", "ipo", "--label-smoothing", "0.1"), "label_smoothing applies to"),
        (("--gamma", "1.0"), "gamma applies to loss='simpo'"),
        (("--reference", "tiny_gemma3"), "does not match the policy's architecture"),
        (("--loss", "simpo", "--reference", "tiny_gemma"), "reference-free"),
        (("--epochs", "0"), "--epochs must be >= 1"),
        (("--loss", "orpo", "--rpo-alpha", "1"), "ORPO's loss already has"),
        (("--gradient-accumulation-steps", "0"), "--gradient-accumulation-steps must be >= 1"),
    ],
    ids=["beta", "label_smoothing", "gamma", "mismatched_reference", "reference_free", "epochs",
         "rpo_orpo", "accumulation"],
)
def test_bad_dpo_arguments_exit_2(run_cli, pairs_file, tmp_path, extra, match):
    code, out, err, _ = run_cli(
        "dpo", "--preset", "tiny_gemma", "--data", pairs_file, *extra, "--output", tmp_path / "out"
    )
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_bad_reward_arguments_exit_2(run_cli, pairs_file, tmp_path):
    code, out, err, _ = run_cli(
        "reward", "--preset", "tiny_gemma", "--data", pairs_file,
        "--center-rewards-coefficient", "-1", "--output", tmp_path / "out",
    )
    assert code == 2 and "--center-rewards-coefficient" in err


def test_dpo_command_lists_every_loss():
    assert dpo_command.LOSS_NAMES == list(losses.LOSSES)
    assert np.all([name in losses.DEFAULT_BETAS for name in dpo_command.LOSS_NAMES])


@pytest.mark.parametrize("module_name", ["reward_run", "dpo_run"])
def test_run_docstring_examples(module_name):
    import doctest
    import importlib

    module = importlib.import_module(f"kerasalign.trainers.{module_name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
