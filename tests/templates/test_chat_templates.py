"""Golden strings of every chat template against the official formats."""

import pytest

import kerasalign
from kerasalign.data import SFTExample
from kerasalign.templates import get

CONVERSATION = [
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Hi there"},
    {"role": "user", "content": "How are you?"},
]


def test_gemma_matches_official_format():
    text = get("gemma").render(CONVERSATION, add_generation_prompt=True)
    assert text == (
        "<start_of_turn>user\nHello<end_of_turn>\n"
        "<start_of_turn>model\nHi there<end_of_turn>\n"
        "<start_of_turn>user\nHow are you?<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_gemma_folds_system_prompt_into_first_user_turn():
    messages = [{"role": "system", "content": "Be brief."}] + CONVERSATION[:1]
    assert get("gemma").render(messages, add_generation_prompt=True) == (
        "<start_of_turn>user\nBe brief.\n\nHello<end_of_turn>\n<start_of_turn>model\n"
    )


def test_gemma_system_without_user_turn_is_an_error():
    with pytest.raises(kerasalign.TemplateError, match="system prompt"):
        get("gemma").render([{"role": "system", "content": "x"}, {"role": "assistant", "content": "y"}])


def test_phi3_matches_official_format():
    messages = [{"role": "system", "content": "Be brief."}] + CONVERSATION
    assert get("phi3").render(messages, add_generation_prompt=True) == (
        "<|system|>\nBe brief.<|end|>\n<|user|>\nHello<|end|>\n"
        "<|assistant|>\nHi there<|end|>\n<|user|>\nHow are you?<|end|>\n<|assistant|>\n"
    )


def test_chatml_matches_official_format():
    messages = [{"role": "system", "content": "Be brief."}] + CONVERSATION[:2]
    assert get("chatml").render(messages) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
        "<|im_start|>assistant\nHi there<|im_end|>\n"
    )


def test_alpaca_with_and_without_input():
    alpaca = get("alpaca")
    plain = SFTExample(prompt="Name a colour.", response="Blue.")
    assert alpaca.render_prompt(plain) == (
        "Below is an instruction that describes a task. Write a response that "
        "appropriately completes the request.\n\n### Instruction:\nName a colour."
        "\n\n### Response:\n"
    )
    with_input = SFTExample(
        variables={"instruction": "Summarize.", "input": "A long text."}, response="Short."
    )
    assert alpaca.render_prompt(with_input) == (
        "Below is an instruction that describes a task, paired with an input that "
        "provides further context. Write a response that appropriately completes "
        "the request.\n\n### Instruction:\nSummarize.\n\n### Input:\nA long text."
        "\n\n### Response:\n"
    )
    assert alpaca.append_eos


def test_segments_mark_every_assistant_turn_as_target():
    example = SFTExample(messages=CONVERSATION + [{"role": "assistant", "content": "Fine."}])
    segments = get("gemma").segments(example.validate())
    targets = [segment.text for segment in segments if segment.is_target]
    assert targets == ["Hi there<end_of_turn>", "Fine.<end_of_turn>"]
    assert "".join(segment.text for segment in segments) == get("gemma").render(example.conversation())


def test_unknown_template_lists_known_ones():
    with pytest.raises(kerasalign.TemplateError, match="gemma"):
        get("vicuna")


def test_templates_available():
    assert {"gemma", "phi3", "chatml", "alpaca", "summarize_article"} <= set(
        kerasalign.templates.available()
    )
