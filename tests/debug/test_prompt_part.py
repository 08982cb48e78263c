"""Splitting templated prompts into instructions, examples, input and markup."""

import doctest

import pytest

from kerasalign.debug import prompt_part as prompt_part_module
from kerasalign.debug.prompt_part import prompt_parts
from kerasalign.errors import TemplateError
from kerasalign.templates import AlpacaTemplate, PromptTemplate, get


def _joined(parts):
    return "".join(part.text for part in parts)


def test_prompt_template_with_few_shot_examples():
    template = PromptTemplate(
        "Classify the sentiment.\nText: {{text}}\nSentiment:",
        examples=[
            {"text": "I love it", "response": " positive"},
            {"text": "It broke", "response": " negative"},
        ],
    )
    parts = prompt_parts(template, "Not bad at all")
    assert _joined(parts) == template.format(text="Not bad at all")
    assert [(p.kind, p.label) for p in parts] == [
        ("examples", "example 1"),
        ("examples", "example 2"),
        ("instructions", "instructions"),
        ("input", "text"),
        ("instructions", "instructions"),
    ]


def test_prompt_template_with_several_placeholders():
    parts = prompt_parts("translate", {"language": "French", "text": "Hello"})
    assert _joined(parts) == get("translate").format(language="French", text="Hello")
    assert [p.label for p in parts if p.kind == "input"] == ["language", "text"]


def test_placeholder_at_the_start_leaves_no_empty_part():
    parts = prompt_parts("{{input}} Answer:", "Hi")
    assert [p.text for p in parts] == ["Hi", " Answer:"]


@pytest.mark.parametrize("name", ["gemma", "phi3", "chatml"])
def test_chat_templates_match_their_rendering(name):
    template = get(name)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "3+3?"},
    ]
    parts = prompt_parts(template, messages)
    assert _joined(parts) == template.render(messages, add_generation_prompt=True)
    kinds = {p.label: p.kind for p in parts}
    assert kinds["system"] == "instructions"
    assert kinds["user"] == "input"
    assert kinds["turn 1 (user)"] == kinds["turn 2 (assistant)"] == "examples"
    assert [p.text for p in parts if p.kind == "input"] == ["3+3?"]


def test_chat_system_argument_and_string_prompt():
    parts = prompt_parts("gemma", "Hello", system="Be kind.")
    assert _joined(parts) == get("gemma").render(
        [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hello"}],
        add_generation_prompt=True,
    )
    assert [p.kind for p in parts] == ["markup", "instructions", "markup", "input", "markup", "markup"]


@pytest.mark.parametrize("prompt", ["Name a colour.", {"instruction": "Translate.", "input": "Hola"}])
def test_alpaca(prompt):
    parts = prompt_parts("alpaca", prompt)
    if isinstance(prompt, str):
        expected = AlpacaTemplate().format(prompt)
    else:
        expected = AlpacaTemplate().format(prompt["instruction"], prompt["input"])
    assert _joined(parts) == expected
    assert parts[0].kind == "instructions"


def test_no_template():
    [part] = prompt_parts(None, "The sky is")
    assert (part.text, part.kind) == ("The sky is", "input")


@pytest.mark.parametrize(
    "template, prompt, kwargs, message",
    [
        ("translate", "Hello", {}, "--value NAME=TEXT"),
        ("translate", {"language": "French"}, {}, "Missing value for placeholder {{text}}"),
        ("gemma", [{"role": "assistant", "content": "Hi"}], {}, "must end with a user message"),
        ("gemma", [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}], {"system": "z"}, "not both"),
        ("alpaca", "Hi", {"system": "x"}, "only used with a chat template"),
        (None, {"a": "b"}, {}, "must be a string"),
        (None, "", {}, "The prompt is empty"),
        ("no_such_template", "x", {}, "Unknown template"),
    ],
)
def test_errors_name_the_problem(template, prompt, kwargs, message):
    with pytest.raises(TemplateError, match=message.replace("{", r"\{").replace("}", r"\}").replace("+", r"\+")):
        prompt_parts(template, prompt, **kwargs)


def test_docstring_examples():
    result = doctest.testmod(prompt_part_module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
