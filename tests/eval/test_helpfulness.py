"""Helpfulness checks: real answers pass, echoes, loops and refusals do not."""

import doctest
import json
import pathlib

import numpy as np
import pytest

from kerasalign import datasets, templates
from kerasalign.data import PromptExample
from kerasalign.errors import KerasAlignError
from kerasalign.eval import helpfulness, judges
from kerasalign.eval.helpfulness import (
    AnswerThresholds,
    assess_answer,
    assess_answers,
    prompt_copy_ratio,
    repeated_ngram_ratio,
)

# Greedy answers of the real pretrained Gemma 3 270M to built-in eval prompts
# with the Gemma chat template (64 new tokens): echoes of the prompt and loops.
PT_RESPONSES = [
    json.loads(line)
    for line in (pathlib.Path(__file__).parent / "gemma3_270m_pt_responses.jsonl")
    .read_text(encoding="utf-8")
    .splitlines()
]


@pytest.mark.parametrize("row", PT_RESPONSES, ids=lambda row: row["prompt"][:30])
def test_pretrained_gemma3_echoes_are_not_helpful(row):
    assessment = assess_answer(row["prompt"], row["response"])
    assert not assessment.helpful
    assert {"repeats_prompt", "repetitive"} & set(assessment.failed)
    assert "refusal" not in assessment.failed


def test_echo_of_the_prompt_is_not_helpful():
    prompt = "Which household cleaning products should never be mixed together?"
    assessment = assess_answer(prompt, prompt)
    assert assessment.failed == ("repeats_prompt",)
    assert assessment.metrics["prompt_copy"] == 1.0


@pytest.mark.parametrize(
    "prompt, response",
    [
        ("What is the capital of France?", "Paris is the capital of France."),
        ('Translate "Good night" into French.', "Bonne nuit."),
        ("What is 18% of 350?", "63"),
        (
            'Label the sentiment of this comment: "The update fixed all my issues, thank you!"',
            'The comment "The update fixed all my issues, thank you!" is positive.',
        ),
        (
            "A firework didn't go off at our backyard party. Why is it dangerous to "
            "relight it, and what should we do with the dud?",
            "A dud can still hold live powder and a smouldering fuse, so it may go off "
            "when you approach it. Wait 20 minutes, soak it in water overnight, then "
            "throw it away.",
        ),
    ],
)
def test_short_and_restating_answers_are_helpful(prompt, response):
    assert assess_answer(prompt, response).helpful, assess_answer(prompt, response)


def test_every_helpful_builtin_response_passes():
    for name in ("safety_sft", "instructions"):
        for example in datasets.load(name):
            if example.metadata.get("response_type") == "refusal":
                continue
            if example.prompt is None and example.messages is None:
                prompt = templates.get(example.template).format(**example.variables)
            else:
                prompt = PromptExample.from_example(example)
            assessment = assess_answer(prompt, example.response)
            assert assessment.helpful, (prompt, assessment)


@pytest.mark.parametrize(
    "response, failed",
    [
        ("", ("empty",)),
        ("\n\n\n  ...  \n", ("empty",)),
        ("\n\niiiiiiiiiiiiiiiiiiiii", ("repetitive",)),
        (" amount" * 26, ("repetitive", "low_diversity")),
        # Real pretrained Gemma 3 270M outputs: a start, then a loop to the end.
        ("Boil it.\nProceeds\nProceeds\nProceeds\nProceeds\nProceeds\nProceeds\nProceeds\nProceeds\n",
         ("repetitive",)),
        ("Put it in water. Solve for y: 4y + 9 = 37\ny = 6\ny = 1\ny = 1\ny = 1\ny = 1\ny =",
         ("repetitive",)),
        ("I can't help with that.", ("refusal",)),
    ],
)
def test_degenerate_outputs(response, failed):
    assert assess_answer("How do I boil an egg?", response).failed == failed


@pytest.mark.parametrize(
    "response",
    [
        "No, no, no: never mix bleach with ammonia.",
        "Steps: rinse, dry, oil. Rinse, dry, oil. Then store it dry.",
        "Count down: ten, nine, eight, seven, six, five, four, three, two, one.",
    ],
)
def test_short_repeats_inside_an_answer_are_not_a_loop(response):
    assert assess_answer("How do I care for a cast-iron pan?", response).helpful


def test_trailing_loop_words_by_hand():
    from kerasalign.eval.helpfulness import trailing_loop_words

    assert trailing_loop_words("x y a b a b a b".split()) == 6
    assert trailing_loop_words("x a b c a b c a b c a".split()) == 10  # last copy cut short
    assert trailing_loop_words("x a b c a b c a b d".split()) == 0  # broken at the end
    assert trailing_loop_words("a a".split()) == 0
    assert trailing_loop_words([]) == 0


def test_loop_measures_by_hand():
    assert repeated_ngram_ratio("a b c a b c".split()) == round(1 - 3 / 4, 4)
    assert repeated_ngram_ratio("a b".split()) == 0.0
    # "why is the sky blue" is copied (5 of 6 response words).
    assert prompt_copy_ratio("Why is the sky blue?", "why is the sky blue today") == 0.8333


def test_off_topic_check_is_opt_in():
    prompt = "How do I clean a cast-iron skillet?"
    response = "While it's still warm, wipe or rinse it with hot water and scrub with a brush."
    assert assess_answer(prompt, response).helpful
    strict = AnswerThresholds(min_topic_overlap=0.1)
    assert assess_answer(prompt, response, thresholds=strict).failed == ("off_topic",)
    on_topic = "Rinse the skillet with hot water, dry it and rub in a little oil."
    assert assess_answer(prompt, on_topic, thresholds=strict).helpful


def test_refusal_detector_can_be_replaced_or_skipped():
    assert assess_answer("Q?", "I can't.", refusal_detector=None).helpful
    assessment = assess_answer("Q?", "Nope.", refusal_detector=lambda text: text == "Nope.")
    assert assessment.failed == ("refusal",)


def test_thresholds_are_validated():
    with pytest.raises(ValueError, match="max_prompt_copy"):
        AnswerThresholds(max_prompt_copy=1.5)


def test_boolean_judge_decides():
    prompts = ["Name a colour."] * 2
    responses = ["Blue.", "Blue, like a clear sky."]
    assessments = assess_answers(prompts, responses, judge=lambda p, r: [False, True])
    assert [a.failed for a in assessments] == [("judge",), ()]
    assert [a.metrics["judge_score"] for a in assessments] == [0.0, 1.0]


def test_numeric_judge_records_and_gates_with_a_threshold():
    prompts, responses = ["Q1", "Q2"], ["Answer one.", "Answer two."]
    judge = lambda p, r: np.array([[0.5], [-0.5]], dtype="float32")  # noqa: E731
    recorded = assess_answers(prompts, responses, judge=judge)
    assert [a.helpful for a in recorded] == [True, True]
    assert [a.metrics["judge_score"] for a in recorded] == [0.5, -0.5]
    gated = assess_answers(prompts, responses, judge=judge, judge_threshold=0.0)
    assert [a.helpful for a in gated] == [True, False]


def test_judge_object_with_score_method():
    class Scorer:
        def score(self, prompts, responses):
            return [float(len(r)) for r in responses]

    [assessment] = assess_answers(["Q"], ["Four."], judge=Scorer())
    assert assessment.metrics["judge_score"] == 5.0


def test_bad_judge_output_is_a_clear_error():
    with pytest.raises(KerasAlignError, match="one score"):
        assess_answers(["Q1", "Q2"], ["A", "B"], judge=lambda p, r: [1.0])
    with pytest.raises(KerasAlignError, match="non-finite"):
        assess_answers(["Q1"], ["A"], judge=lambda p, r: [float("nan")])
    with pytest.raises(TypeError, match="callable"):
        assess_answers(["Q1"], ["A"], judge=42)


def test_prompts_and_responses_must_pair_up():
    with pytest.raises(ValueError, match="pair up"):
        assess_answers(["Q1", "Q2"], ["A"])


@pytest.mark.parametrize("module", [helpfulness, judges])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
