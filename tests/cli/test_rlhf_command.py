"""`kerasalign rlhf`: end to end with a trained reward model, and one-line errors."""

import json
import re

import pytest

import kerasalign
from kerasalign.data import to_dict

TINY = ("--preset", "tiny_gemma", "--lora-rank", "8", "--lora-targets", "all")


@pytest.fixture
def prompts_file(tmp_path):
    prompts = kerasalign.datasets.load("eval_benign")[:4] + kerasalign.datasets.load(
        "eval_harmful"
    )[:4]
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(to_dict(prompt)) + "\n" for prompt in prompts))
    return path


@pytest.fixture
def pairs_file(tmp_path):
    pairs = kerasalign.datasets.load("safety_preferences")[::50][:8]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(to_dict(pair)) + "\n" for pair in pairs))
    return path


def test_rlhf_with_a_trained_reward_model_end_to_end(run_cli, pairs_file, prompts_file, tmp_path):
    code, _, err, _ = run_cli(
        "reward", *TINY, "--sequence-length", "64", "--data", pairs_file, "--epochs", "1",
        "--batch-size", "4", "--learning-rate", "3e-3", "--output", tmp_path / "rm", "--json",
    )
    assert code == 0, err
    code, out, err, result = run_cli(
        "rlhf", *TINY, "--data", prompts_file, "--reward-model", tmp_path / "rm",
        "--algorithm", "ppo", "--epochs", "1", "--batch-size", "4", "--num-minibatches", "2",
        "--max-new-tokens", "8", "--learning-rate", "1e-3", "--output", tmp_path / "ppo", "--json",
    )
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "ppo").iterdir()) == [
        "adapter", "curves.png", "metrics.json",
    ]
    assert result["algorithm"] == "ppo" and result["rollout_batches"] == 2
    assert result["responses"] == 8 and result["prompts"] == 8
    assert result["reward"].startswith("RewardModel(")
    assert result["data"]["count"] == 8
    metrics = json.loads((tmp_path / "ppo" / "metrics.json").read_text())
    steps = metrics["history"]["steps"]
    assert len(steps) == 2 and len(metrics["history"]["epochs"]) == 1
    for name in (
        "objective/kl", "objective/scores", "objective/rlhf_reward", "policy/clipfrac_avg",
        "loss/policy_avg", "loss/value_avg", "completions/mean_length",
    ):
        assert name in steps[-1], name
    assert metrics["summary"]["config"]["kl_coef"] == 0.05
    # The adapter loads into a fresh copy of the base model.
    model = kerasalign.load_causal_lm("tiny_gemma")
    config = kerasalign.load_adapter(model, tmp_path / "ppo" / "adapter")
    assert config["rank"] == 8


def test_grpo_on_top_of_a_merged_sft_adapter(run_cli, prompts_file, tmp_path):
    sft = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
    kerasalign.save_adapter(sft, tmp_path / "sft")
    code, out, err, _ = run_cli(
        "rlhf", *TINY, "--adapter", tmp_path / "sft", "--data", prompts_file,
        "--reward-keyword", "\n", "--algorithm", "grpo", "--num-generations", "2",
        "--batch-size", "8", "--max-new-tokens", "4", "--output", tmp_path / "grpo",
        "--lr-schedule", "linear", "--optimization-epochs", "2", "--learning-rate", "1e-4",
    )
    assert code == 0, err
    assert "GRPO: 1 rollout batches, 16 responses: score" in out
    metrics = json.loads((tmp_path / "grpo" / "metrics.json").read_text())
    assert metrics["summary"]["base"] == {
        "preset": "tiny_gemma", "merged_adapter": str(tmp_path / "sft"),
    }
    assert metrics["summary"]["lora"]["rank"] == 8
    assert "loss/kl_avg" in metrics["history"]["steps"][0]
    # Two updates (linear decay to zero at the last): the batch's first used the full rate.
    assert metrics["summary"]["config"]["lr_schedule"] == "linear"
    assert metrics["history"]["steps"][0]["learning_rate"] == pytest.approx(1e-4)


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--reward-keyword", "x", "--lora-rank", "0"), "--lora-rank must be >= 1"),
        (("--reward-keyword", "x", "--algorithm", "grpo", "--num-generations", "1"),
         r"num_generations \(G\) must be an integer >= 2"),
        (("--reward-keyword", "x", "--kl-coef", "-1"), "kl_coef must be a number >= 0"),
        (("--reward-keyword", "x", "--max-new-tokens", "0"), "max_new_tokens must be"),
        (("--reward-model", "no/such/dir"), "not a kerasalign reward model directory"),
        (("--reward-keyword", ""), "keyword must be a non-empty string"),
        (("--reward-keyword", "x", "--warmup-ratio", "1"), "--warmup-ratio must be >= 0 and < 1"),
    ],
    ids=["lora_rank_0", "one_generation", "negative_kl", "no_tokens", "no_reward_model", "empty_keyword",
         "warmup_ratio_1"],
)
def test_bad_arguments_exit_2_with_one_line(run_cli, prompts_file, tmp_path, extra, message):
    code, out, err, _ = run_cli(
        "rlhf", "--preset", "tiny_gemma", "--data", prompts_file, *extra,
        "--output", tmp_path / "out",
    )
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert re.search(message, err), err
    assert not (tmp_path / "out").exists()


def test_an_empty_prompt_file_exits_2(run_cli, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    code, out, err, _ = run_cli(
        "rlhf", "--preset", "tiny_gemma", "--data", path, "--reward-keyword", "x",
        "--output", tmp_path / "out",
    )
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()
