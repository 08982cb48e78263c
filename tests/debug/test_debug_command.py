"""`kerasalign debug salience` and `kerasalign debug refine` on tiny models."""

import json

import pytest

from kerasalign.cli.main import main


@pytest.fixture
def run_cli(capsys):
    def run(*argv):
        code = main([str(arg) for arg in argv])
        out, err = capsys.readouterr()
        result = json.loads(out.strip().splitlines()[-1]) if "--json" in argv and code == 0 else None
        return code, out, err, result

    return run


def test_salience_json_and_html(run_cli, tmp_path):
    html = tmp_path / "salience.html"
    code, out, err, result = run_cli(
        "debug", "salience", "--preset", "tiny_gemma", "--prompt", "Is the sky blue?",
        "--target", " Yes.", "--template", "Answer briefly. Q: {{input}} A:",
        "--method", "grad_norm", "--html", html, "--json",
    )
    assert code == 0, err
    assert result["method"] == "grad_norm" and result["target"] == " Yes."
    assert "".join(token["text"] for token in result["tokens"]) == "Answer briefly. Q: Is the sky blue? A:"
    assert {segment["segment"] for segment in result["segments"]} == {"instructions", "input"}
    assert all(token["score"] >= 0 for token in result["tokens"])
    assert html.read_text().startswith("<div class='kerasalign-salience'")
    assert len(out.strip().splitlines()) == 1  # --json prints only the JSON line


def test_salience_coloured_terminal_output(run_cli):
    code, out, err, _ = run_cli(
        "debug", "salience", "--preset", "tiny_gemma3", "--prompt", "Hello there",
        "--target", " Hi", "--color", "always",
    )
    assert code == 0, err
    assert out.count("\x1b[48;5;") == 4  # one coloured background per token (4)
    assert "--> ' Hi'" in out
    code, out, _, _ = run_cli(
        "debug", "salience", "--preset", "tiny_gemma3", "--prompt", "Hello there", "--target", " Hi",
    )
    assert code == 0 and "\x1b[" not in out  # captured output is not a terminal


def test_salience_with_several_placeholders(run_cli):
    code, _, err, result = run_cli(
        "debug", "salience", "--preset", "tiny_gemma", "--template", "translate",
        "--value", "language=French", "--value", "text=Hello", "--target", " Bonjour",
        "--method", "integrated_gradients", "--steps", "4", "--json",
    )
    assert code == 0, err
    assert {token["label"] for token in result["tokens"]} == {"instructions", "language", "text"}
    assert result["details"]["steps"] == 4


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--template", "translate", "--prompt", "Hello"], "--value NAME=TEXT"),
        (["--prompt", "Hi", "--value", "text=Hello"], "not both"),
        (["--value", "oops"], "--value takes NAME=TEXT"),
        ([], "Give the input with --prompt"),
        (["--prompt", "Hi", "--steps", "0"], "steps must be a positive integer"),
        (["--prompt", "Hi", "--html", "/no/such/dir/x.html"], "Cannot write"),
    ],
)
def test_salience_user_errors_exit_2(run_cli, arguments, message):
    code, _, err, _ = run_cli("debug", "salience", "--preset", "tiny_gemma", "--target", " x", *arguments)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_refine_writes_the_history(run_cli, tmp_path):
    feedback = tmp_path / "feedback.jsonl"
    feedback.write_text(
        json.dumps({"prompt": "How do I make a bomb?", "critique": "It did not refuse."}) + "\n"
        + json.dumps({"kudos": "Short answers."}) + "\n"
    )
    output = tmp_path / "refined"
    code, out, err, result = run_cli(
        "debug", "refine", "--preset", "tiny_gemma", "--template", "Be helpful. {{input}}",
        "--prompts", "eval_harmful", "--limit", "2", "--feedback", feedback,
        "--max-new-tokens", "4", "--llm-max-new-tokens", "8", "--output", output, "--json",
    )
    assert code == 0, err
    history = json.loads((output / "history.json").read_text())
    assert history == {key: value for key, value in result.items() if key in history}
    assert len(result["versions"]) == 2 and len(result["prompts"]) == 2
    assert result["versions"][0]["status"] == "original"
    assert result["metric"] == "expected_behaviour"
    revised = result["versions"][1]
    assert revised["status"] in ("accepted", "repaired", "rejected", "unchanged")
    if revised["status"] != "rejected":
        assert "{{input}}" in revised["text"]


def test_refine_bad_feedback_file_exits_2(run_cli, tmp_path):
    feedback = tmp_path / "feedback.jsonl"
    feedback.write_text('{"critique": "fine"}\n{"prompt": "x"}\n')
    code, _, err, _ = run_cli(
        "debug", "refine", "--preset", "tiny_gemma", "--template", "{{input}}",
        "--prompts", "eval_harmful", "--feedback", feedback,
    )
    assert code == 2
    assert 'feedback.jsonl, line 2, field "text"' in err
