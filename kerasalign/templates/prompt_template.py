"""`PromptTemplate`: text with `{{placeholder}}` slots and optional few-shot examples.

A prompt template is the cheapest alignment tool: it gives the model context,
instructions and examples before the user's input. Placeholders are written
`{{name}}` (letters, digits and underscores, not starting with a digit);
`{{{{` and `}}}}` are not special, so write literal braces as they are.

Examples:

>>> template = PromptTemplate(
...     "The following examples show an expert scientist summarizing the key "
...     "points of an article. Article: {{article}}\\nSummary:")
>>> template.placeholders
['article']
>>> template.format(article="Water boils at 100 C.")[-39:]
'Article: Water boils at 100 C.\\nSummary:'
>>> few_shot = PromptTemplate("Q: {{question}}\\nA:", examples=[
...     {"question": "2+2?", "response": " 4"}])
>>> print(few_shot.format(question="3+3?"))
Q: 2+2?
A: 4
<BLANKLINE>
Q: 3+3?
A:
"""

import re

from kerasalign.errors import TemplateError
from kerasalign.templates.segments import Segment

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_placeholders(text):
    """Return the placeholder names of `text` in order of first appearance.

    Raises `TemplateError` for an empty or invalid name, or unbalanced braces.
    """
    if not isinstance(text, str):
        raise TemplateError(f"A template must be a string. Received: {type(text).__name__}")
    names = []
    for match in _PLACEHOLDER.finditer(text):
        name = match.group(1).strip()
        if not _NAME.match(name):
            raise TemplateError(
                f"Malformed placeholder {match.group(0)!r} at character "
                f"{match.start()}: a name is letters, digits and underscores."
            )
        if name not in names:
            names.append(name)
    remainder = _PLACEHOLDER.sub("", text)
    for token in ("{{", "}}"):
        position = remainder.find(token)
        if position != -1:
            raise TemplateError(
                f"Unbalanced {token!r} in template near {remainder[max(0, position - 20):position + 20]!r}."
            )
    return names


class PromptTemplate:
    """A prompt with `{{placeholders}}` and optional few-shot examples.

    Args:
        text: str. The template, e.g. `"Article: {{article}}\\nSummary:"`.
        examples: list of dict. Few-shot examples: each has a value for every
            placeholder and a `"response"`; they are rendered before the
            prompt. Defaults to `None`.
        example_separator: str. Text between few-shot examples and the
            prompt. Defaults to `"\\n\\n"`.
        name: str. A name for reports. Defaults to `"custom"`.
    """

    append_eos = True

    def __init__(self, text, examples=None, example_separator="\n\n", name="custom"):
        self.text = text
        self.placeholders = parse_placeholders(text)
        if not self.placeholders:
            raise TemplateError(
                "A prompt template needs at least one {{placeholder}}; "
                f"received {text[:60]!r}."
            )
        self.examples = list(examples or [])
        self.example_separator = example_separator
        self.name = name
        for index, example in enumerate(self.examples):
            if not isinstance(example, dict) or "response" not in example:
                raise TemplateError(
                    f"Few-shot example {index} must be a dict with the "
                    f"placeholders {self.placeholders} and a 'response'."
                )
            self._fill({k: v for k, v in example.items() if k != "response"}, f"few-shot example {index}")

    def _fill(self, values, where="format()"):
        unknown = sorted(set(values) - set(self.placeholders))
        if unknown:
            raise TemplateError(
                f"Unknown placeholder {unknown[0]!r} given to {where}; the "
                f"template's placeholders are {self.placeholders}."
            )
        missing = [name for name in self.placeholders if name not in values]
        if missing:
            raise TemplateError(
                f"Missing value for placeholder {{{{{missing[0]}}}}} in {where}."
            )
        for name in self.placeholders:
            if not isinstance(values[name], str):
                raise TemplateError(
                    f"The value of placeholder {{{{{name}}}}} must be a string, "
                    f"got {type(values[name]).__name__}."
                )
        return _PLACEHOLDER.sub(lambda m: values[m.group(1).strip()], self.text)

    def _few_shot_prefix(self):
        rendered = [
            self._fill({k: v for k, v in example.items() if k != "response"})
            + example["response"]
            for example in self.examples
        ]
        return "".join(text + self.example_separator for text in rendered)

    def format(self, **values):
        """Fill the placeholders (after any few-shot examples)."""
        return self._few_shot_prefix() + self._fill(values)

    def values_for(self, example):
        """The placeholder values of an `SFTExample`-like record.

        Uses `example.variables` when given; otherwise a template with a
        single placeholder takes the example's `prompt`.
        """
        variables = getattr(example, "variables", None)
        if variables:
            return dict(variables)
        if len(self.placeholders) == 1 and getattr(example, "prompt", None) is not None:
            return {self.placeholders[0]: example.prompt}
        raise TemplateError(
            f"Template placeholders {self.placeholders} need `variables` in "
            "each example (only a one-placeholder template can take `prompt`)."
        )

    def render_prompt(self, example):
        """The prompt text for an example (for generation)."""
        return self.format(**self.values_for(example))

    def segments(self, example):
        """Split an example into the prompt (no loss) and the response (loss)."""
        return [
            Segment(self.render_prompt(example), is_target=False),
            Segment(example.response, is_target=True),
        ]

    def __repr__(self):
        return f"PromptTemplate({self.text!r})"
