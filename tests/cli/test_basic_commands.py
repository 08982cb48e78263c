"""`kerasalign info`, `generate` and `sft` from the command line."""

import json
import subprocess
import sys

import pytest


def test_info_json(run_cli):
    code, out, err, result = run_cli("info", "--json")
    assert code == 0
    assert "tiny_gemma" in result["builtin_presets"] and result["backend"]
    assert "gemma" in result["templates"]


def test_help_lists_commands():
    completed = subprocess.run(
        [sys.executable, "-m", "kerasalign.cli.main", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("info", "generate", "sft"):
        assert command in completed.stdout


@pytest.mark.backend
def test_generate_greedy_is_deterministic(run_cli):
    args = ("generate", "--preset", "tiny_gemma", "--template", "gemma", "--prompt", "Hello", "--max-new-tokens", "5", "--json")
    code, out, err, first = run_cli(*args)
    assert code == 0, err
    code, out, err, second = run_cli(*args)
    assert first["completions"] == second["completions"]
    assert first["completions"][0]["prompt"] == "Hello"


def test_sft_command_trains_and_writes_outputs(run_cli, sft_file, tmp_path):
    code, out, err, result = run_cli(
        "sft", "--preset", "tiny_gemma", "--data", sft_file, "--template", "gemma",
        "--lora-rank", "4", "--epochs", "30", "--learning-rate", "1e-2",
        "--output", tmp_path / "out", "--json",
    )
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["adapter", "loss.png", "metrics.json"]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert len(metrics["history"]["epochs"]) == 30
    assert result["final"]["loss"] < 0.8 * result["first_step_loss"]
    code, out, err, generated = run_cli(
        "generate", "--preset", "tiny_gemma", "--adapter", tmp_path / "out" / "adapter",
        "--template", "gemma", "--prompt", "What is 12 + 30?", "--max-new-tokens", "4", "--json",
    )
    assert code == 0, err


def test_sft_full_fine_tuning_writes_a_preset(run_cli, sft_file, tmp_path):
    code, out, err, result = run_cli(
        "sft", "--preset", "tiny_gemma", "--data", sft_file, "--lora-rank", "0",
        "--epochs", "1", "--output", tmp_path / "out", "--json",
    )
    assert code == 0, err
    assert (tmp_path / "out" / "model" / "config.json").exists()
    assert result["parameters"]["trainable_fraction"] == 1.0


def test_sft_pack_reports_the_packed_rows(run_cli, sft_file, tmp_path):
    code, out, err, _ = run_cli(
        "sft", "--preset", "tiny_gemma", "--data", sft_file, "--lora-rank", "2",
        "--epochs", "1", "--pack", "--output", tmp_path / "out",
    )
    assert code == 0, err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    packing = metrics["summary"]["packing"]
    assert packing["rows_out"] < packing["rows_in"]
    assert f"{packing['rows_in']} examples packed into {packing['rows_out']} rows" in out


@pytest.mark.parametrize(
    "content, match",
    [
        ('{"prompt": "Hi", "response": "Hello"}\n{"prompt": "Hi", "resp', "line 2"),
        ('{"prompt": "Hi"}\n', "response"),
        ('{"prompt": 3, "response": "x"}\n', "prompt"),
        ("", "empty"),
    ],
    ids=["truncated", "missing_field", "wrong_type", "empty"],
)
def test_sft_bad_data_exits_2_with_one_line(run_cli, tmp_path, content, match):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    code, out, err, _ = run_cli("sft", "--preset", "tiny_gemma", "--data", path, "--output", tmp_path / "out")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and match in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_sft_unknown_template_placeholder_exits_2(run_cli, sft_file, tmp_path):
    code, out, err, _ = run_cli(
        "sft", "--preset", "tiny_gemma", "--data", sft_file, "--template", "Q: {{question}} {{oops",
        "--output", tmp_path / "out",
    )
    assert code == 2 and "Unbalanced" in err and len(err.strip().splitlines()) == 1


def test_sft_template_missing_value_exits_2(run_cli, sft_file, tmp_path):
    code, out, err, _ = run_cli(
        "sft", "--preset", "tiny_gemma", "--data", sft_file, "--template", "{{title}}: {{body}}",
        "--output", tmp_path / "out",
    )
    assert code == 2 and "variables" in err


def test_unknown_preset_exits_2(run_cli):
    code, out, err, _ = run_cli("generate", "--preset", "nope", "--prompt", "x")
    assert code == 2 and "Unknown preset 'nope'" in err


def test_bad_numbers_exit_2(run_cli, sft_file, tmp_path):
    code, out, err, _ = run_cli("sft", "--preset", "tiny_gemma", "--data", sft_file, "--epochs", "0", "--output", tmp_path / "o")
    assert code == 2 and "--epochs" in err
    code, out, err, _ = run_cli("sft", "--preset", "tiny_gemma", "--data", sft_file, "--warmup-ratio", "-0.5", "--output", tmp_path / "o")
    assert code == 2 and "--warmup-ratio must be >= 0 and < 1, got -0.5" in err
    assert not (tmp_path / "o").exists()


def test_sft_lr_schedule_decays_at_every_step(run_cli, sft_file, tmp_path):
    code, out, err, result = run_cli(
        "sft", "--preset", "tiny_gemma", "--data", sft_file, "--lora-rank", "2", "--epochs", "2",
        "--batch-size", "2", "--lr-schedule", "cosine", "--output", tmp_path / "out", "--json",
    )
    assert code == 0, err
    assert result["config"]["lr_schedule"] == "cosine"
    rates = [step["learning_rate"] for step in json.loads(
        (tmp_path / "out" / "metrics.json").read_text())["history"]["steps"]]
    assert rates[0] == pytest.approx(2e-4) and all(a > b > 0 for a, b in zip(rates, rates[1:], strict=False))


def test_fresh_process_prints_one_clean_error_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "Hi", "response": "Hello"}\n{"prompt": "Hi"\n')
    completed = subprocess.run(
        [sys.executable, "-m", "kerasalign.cli.main", "sft", "--preset", "tiny_gemma",
         "--data", str(path), "--output", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith(f"kerasalign sft: error: {path}, line 2")
