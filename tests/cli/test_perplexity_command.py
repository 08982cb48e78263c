"""`kerasalign perplexity` on a built-in tiny preset and on a GGUF file."""

import math
import pathlib
import sys

import numpy as np
import pytest

from kerasalign.eval.perplexity import perplexity
from kerasalign.models import enable_lora, load_causal_lm, save_adapter

# The tiny llama.cpp-style GGUF writer lives with the GGUF import tests.
sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "models"))
from tiny_gemma3_gguf import (  # noqa: E402
    build_tiny_causal_lm,
    train_tiny_sentencepiece,
    write_gemma3_gguf,
)

PROSE = (
    "The library opened at nine, and by ten the reading room was full. "
    "People came for the quiet as much as for the books: a student with a "
    "stack of notes, an old man with the morning paper, a child who had "
    "found a picture book about whales and would not let it go."
)


@pytest.fixture
def prose_file(tmp_path):
    path = tmp_path / "prose.txt"
    path.write_text(PROSE, encoding="utf-8")
    return path


def test_perplexity_json(run_cli, prose_file):
    code, out, err, result = run_cli(
        "perplexity",
        "--preset",
        "tiny_gemma3",
        "--text-file",
        prose_file,
        "--sequence-length",
        "32",
        "--stride",
        "8",
        "--json",
    )
    assert code == 0, err
    assert list(result)[:2] == ["perplexity", "tokens"]
    model = load_causal_lm("tiny_gemma3", sequence_length=32)
    expected = perplexity(model, PROSE, stride=8)
    assert result["tokens"] == expected["tokens"]
    assert result["windows"] == expected["windows"] > 1
    assert result["perplexity"] == pytest.approx(expected["perplexity"], rel=1e-4)
    assert math.isfinite(result["perplexity"])


def test_perplexity_with_adapter(run_cli, prose_file, tmp_path):
    model = load_causal_lm("tiny_gemma3", sequence_length=32)
    enable_lora(model, rank=2)
    adapter_dir = tmp_path / "adapter"
    save_adapter(model, adapter_dir)
    base = run_cli(
        "perplexity",
        "--preset",
        "tiny_gemma3",
        "--text-file",
        prose_file,
        "--sequence-length",
        "32",
        "--json",
    )[3]
    code, out, err, with_adapter = run_cli(
        "perplexity",
        "--preset",
        "tiny_gemma3",
        "--adapter",
        adapter_dir,
        "--text-file",
        prose_file,
        "--sequence-length",
        "32",
        "--json",
    )
    assert code == 0, err
    assert with_adapter["adapter"] == str(adapter_dir)
    # A fresh LoRA adapter (B = 0) does not change the model.
    assert with_adapter["perplexity"] == pytest.approx(base["perplexity"], rel=1e-4)


@pytest.mark.backend
def test_perplexity_of_a_gguf_file(run_cli, prose_file, tmp_path, monkeypatch):
    monkeypatch.setenv("KERASALIGN_CACHE_DIR", str(tmp_path / "cache"))
    causal_lm = build_tiny_causal_lm(train_tiny_sentencepiece())
    gguf_path = write_gemma3_gguf(causal_lm, tmp_path / "tiny.gguf")
    code, out, err, result = run_cli(
        "perplexity",
        "--preset",
        gguf_path,
        "--text-file",
        prose_file,
        "--sequence-length",
        "16",
        "--json",
    )
    assert code == 0, err
    causal_lm.preprocessor.sequence_length = 16
    expected = perplexity(causal_lm, PROSE)
    assert result["tokens"] == expected["tokens"]
    np.testing.assert_allclose(result["perplexity"], expected["perplexity"], rtol=1e-4)


def test_perplexity_text_output(run_cli, prose_file):
    code, out, err, result = run_cli(
        "perplexity",
        "--preset",
        "tiny_gemma3",
        "--text-file",
        prose_file,
        "--sequence-length",
        "32",
    )
    assert code == 0, err
    assert out.startswith("perplexity ") and "tokens" in out


@pytest.mark.parametrize(
    "content, message",
    [("   \n", "empty.txt: the file has no text to score"), (b"\xff\xfe", "not UTF-8")],
)
def test_bad_text_files(run_cli, tmp_path, content, message):
    path = tmp_path / "empty.txt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    code, out, err, result = run_cli(
        "perplexity", "--preset", "tiny_gemma3", "--text-file", path, "--json"
    )
    assert code == 2
    assert message in err and "Traceback" not in err


def test_missing_text_file(run_cli, tmp_path):
    code, out, err, result = run_cli(
        "perplexity", "--preset", "tiny_gemma3", "--text-file", tmp_path / "nope.txt"
    )
    assert code == 2 and "nope.txt" in err


def test_bad_stride(run_cli, prose_file):
    code, out, err, result = run_cli(
        "perplexity",
        "--preset",
        "tiny_gemma3",
        "--text-file",
        prose_file,
        "--sequence-length",
        "16",
        "--stride",
        "16",
    )
    assert code == 2 and "--stride must be from 1 to 15" in err
