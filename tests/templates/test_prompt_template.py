"""PromptTemplate: placeholders, few-shot examples and errors."""

import pytest

from kerasalign import PromptTemplate, TemplateError
from kerasalign.data import SFTExample

ARTICLE = (
    "The following examples show an expert scientist summarizing the key points "
    "of an article. Article: {{article}}\nSummary:"
)


def test_format_fills_placeholders():
    template = PromptTemplate(ARTICLE)
    assert template.placeholders == ["article"]
    assert template.format(article="Bees dance.").endswith("Article: Bees dance.\nSummary:")


def test_spaces_inside_braces_are_allowed():
    assert PromptTemplate("Q: {{ question }}").format(question="why?") == "Q: why?"


def test_few_shot_examples_come_first():
    template = PromptTemplate(
        "Q: {{q}}\nA:", examples=[{"q": "1+1?", "response": " 2"}, {"q": "2+2?", "response": " 4"}]
    )
    assert template.format(q="3+3?") == "Q: 1+1?\nA: 2\n\nQ: 2+2?\nA: 4\n\nQ: 3+3?\nA:"


def test_missing_value_names_the_placeholder():
    with pytest.raises(TemplateError, match=r"\{\{article\}\}"):
        PromptTemplate(ARTICLE).format()


def test_unknown_value_names_the_placeholder():
    with pytest.raises(TemplateError, match="'title'"):
        PromptTemplate(ARTICLE).format(article="x", title="y")


@pytest.mark.parametrize(
    "text, match",
    [
        ("Hello {{}}", "Malformed placeholder"),
        ("Hello {{1st}}", "Malformed placeholder"),
        ("Hello {{name", "Unbalanced"),
        ("Hello name}}", "Unbalanced"),
        ("No placeholder at all", "at least one"),
    ],
)
def test_malformed_templates_raise(text, match):
    with pytest.raises(TemplateError, match=match):
        PromptTemplate(text)


def test_template_error_is_a_value_error():
    assert issubclass(TemplateError, ValueError)


def test_bad_few_shot_example_is_reported():
    with pytest.raises(TemplateError, match="few-shot example 0"):
        PromptTemplate("Q: {{q}}", examples=[{"question": "x", "response": "y"}])


def test_segments_split_prompt_and_response():
    example = SFTExample(variables={"article": "Bees dance."}, response="Bees talk by dancing.")
    prompt, response = PromptTemplate(ARTICLE).segments(example)
    assert not prompt.is_target and prompt.text.endswith("Summary:")
    assert response.is_target and response.text == "Bees talk by dancing."
