"""Aggregation and rendering of salience scores (pure NumPy, no model)."""

import doctest
import importlib
import json
import re

import numpy as np
import pytest

from kerasalign.debug import SalienceResult
from kerasalign.errors import KerasAlignError


@pytest.fixture
def result():
    tokens = ["Be", " kind", ".", "\n", "<b>", " cats", "&", "dogs", "\n", "A", ":"]
    kinds = ["instructions"] * 4 + ["input"] * 5 + ["instructions"] * 2
    labels = ["instructions"] * 4 + ["text"] * 5 + ["instructions"] * 2
    return SalienceResult(
        tokens=tokens,
        token_ids=np.arange(len(tokens)),
        scores=np.array([0.1, 0.2, 0.0, 0.05, -0.4, 1.0, 0.1, 0.3, 0.0, 0.1, -0.2]),
        kinds=kinds,
        labels=labels,
        target=" <Yes> & no",
        method="grad_x_input",
        log_prob=-1.5,
        target_tokens=[" <", "Yes", ">", " &", " no"],
    )


def test_word_aggregation(result):
    words = result.word_scores()
    assert [word for word, _ in words] == ["Be", "kind.", "<b>", "cats&dogs", "A:"]
    assert dict(words)["cats&dogs"] == pytest.approx(1.4)
    assert dict(words)["kind."] == pytest.approx(0.25)  # the newline joins "kind."
    assert dict(result.word_scores(reduce="max"))["cats&dogs"] == pytest.approx(1.0)
    assert dict(result.word_scores(reduce="mean"))["A:"] == pytest.approx(-0.05)
    with pytest.raises(KerasAlignError, match="reduce must be one of"):
        result.word_scores(reduce="median")


def test_segment_aggregation(result):
    segments = result.segment_scores()
    assert [s["segment"] for s in segments] == ["instructions", "input"]
    assert sum(s["share"] for s in segments) == pytest.approx(1.0)
    by_kind = {s["segment"]: s for s in segments}
    assert by_kind["input"]["tokens"] == 5
    assert by_kind["input"]["total"] == pytest.approx(1.0)
    assert by_kind["input"]["share"] == pytest.approx(1.8 / 2.45)
    assert [s["segment"] for s in result.segment_scores(by="label")] == ["instructions", "text"]
    with pytest.raises(KerasAlignError, match="by must be one of"):
        result.segment_scores(by="word")


def test_top_tokens_rank_by_absolute_score(result):
    assert [text for _, text, _ in result.top_tokens(3)] == [" cats", "<b>", "dogs"]


def test_html_heat_map(result):
    html = result.to_html()
    assert html == result._repr_html_()
    assert html.count("<span style=\"background: rgba(") == len(result.tokens)
    # The strongest token is fully coloured; a negative one is blue.
    assert 'rgba(214, 39, 40, 1.000)' in html and 'title="1"' in html
    assert "rgba(31, 119, 180, 0.400)" in html
    # Text is escaped, never injected.
    assert "&lt;b&gt;" in html and "<b>" not in html
    assert "&lt;Yes&gt; &amp; no" in html
    assert "grad_x_input" in html and "log p = -1.500" in html
    assert html.count("<tr>") == 3  # header + two template parts


def test_terminal_colouring(result):
    coloured = result.to_terminal()
    codes = re.findall(r"\x1b\[48;5;(\d+)m", coloured)
    assert len(codes) == len(result.tokens)
    assert codes[5] == "196"  # the strongest positive token: bright red
    assert codes[2] == "255"  # a zero score: no colour
    assert codes[4] in ("117", "153")  # negative: blue
    assert coloured.count("\x1b[0m") == len(result.tokens)
    plain = result.to_terminal(color=False)
    assert "\x1b[" not in plain
    assert " cats[1]" in plain
    assert "--> ' <Yes> & no' (log p = -1.500, grad_x_input)" in plain
    assert re.search(r"input\s+5 tokens\s+73\.5%", plain)


def test_to_dict_is_json(result):
    data = json.loads(json.dumps(result.to_dict()))
    assert data["method"] == "grad_x_input"
    assert len(data["tokens"]) == len(result.tokens)
    assert data["tokens"][5] == {"text": " cats", "id": 5, "score": 1.0, "kind": "input", "label": "text"}
    assert [w["text"] for w in data["words"]][0] == "Be"


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="one entry per prompt token"):
        SalienceResult(["a"], [1, 2], [0.1], ["input"], ["input"], "x", "grad_norm", 0.0)


def test_all_zero_scores_render():
    result = SalienceResult(["a", " b"], [1, 2], [0.0, 0.0], ["input"] * 2, ["input"] * 2, "x", "grad_norm", 0.0)
    assert "rgba(214, 39, 40, 0.000)" in result.to_html()
    assert result.segment_scores()[0]["share"] == 0.0


def test_docstring_examples():
    for name in ("salience_result", "salience_rendering"):
        module = importlib.import_module(f"kerasalign.debug.{name}")
        outcome = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert outcome.failed == 0 and outcome.attempted > 0, name
