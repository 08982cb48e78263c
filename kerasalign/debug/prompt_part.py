"""Split a templated prompt into labelled parts: instructions, examples, input.

Salience scores are most useful summed over the parts a person wrote
separately: the template's own instructions, its few-shot examples, and the
user's input. `prompt_parts` renders a prompt piece by piece so that every
piece keeps its label; joined together the pieces are exactly the text the
template renders. `kerasalign.debug.salience.tokenize_parts` then gives each
token of the rendered prompt the part it falls in.

Part kinds:
- `"instructions"`: the template's own text (a `PromptTemplate`'s text
  around its placeholders, a chat system prompt, Alpaca's header);
- `"examples"`: few-shot examples and earlier chat turns;
- `"input"`: the values of the placeholders, the last user message;
- `"markup"`: chat turn markers and format headings.

Examples:

>>> from kerasalign.templates import PromptTemplate
>>> template = PromptTemplate("Answer briefly.\\nQ: {{question}}\\nA:",
...     examples=[{"question": "2+2?", "response": " 4"}])
>>> for part in prompt_parts(template, "3+3?"):
...     print(part.kind, repr(part.text))
examples 'Answer briefly.\\nQ: 2+2?\\nA: 4\\n\\n'
instructions 'Answer briefly.\\nQ: '
input '3+3?'
instructions '\\nA:'
"""

from typing import NamedTuple

from kerasalign.errors import TemplateError
from kerasalign.templates import get as get_template
from kerasalign.templates.alpaca_template import AlpacaTemplate
from kerasalign.templates.chat_template import ChatTemplate
from kerasalign.templates.prompt_template import _PLACEHOLDER, PromptTemplate

KINDS = ("instructions", "examples", "input", "markup")


class PromptPart(NamedTuple):
    """A piece of a rendered prompt and what it is.

    Args:
        text: str. The piece's text.
        kind: str. `"instructions"`, `"examples"`, `"input"` or `"markup"`.
        label: str. A finer name: `"instructions"`, `"example 2"`, the
            placeholder name, `"system"`, `"turn 1 (user)"`, ...
    """

    text: str
    kind: str
    label: str


def placeholder_values(template, prompt):
    """A `PromptTemplate`'s values: a dict as is, a string for its one placeholder."""
    if isinstance(prompt, dict):
        return dict(prompt)
    if isinstance(prompt, str):
        if len(template.placeholders) != 1:
            raise TemplateError(
                f"The template has placeholders {template.placeholders}; give "
                "the prompt as a dict with a value for each (on the command line: "
                "--value NAME=TEXT for each)."
            )
        return {template.placeholders[0]: prompt}
    return template.values_for(prompt)


def _prompt_template_parts(template, prompt):
    values = placeholder_values(template, prompt)
    template.format(**values)  # raises TemplateError naming a missing value
    parts = []
    for index, example in enumerate(template.examples):
        shot = template._fill({k: v for k, v in example.items() if k != "response"})
        text = shot + example["response"] + template.example_separator
        parts.append(PromptPart(text, "examples", f"example {index + 1}"))
    position = 0
    for match in _PLACEHOLDER.finditer(template.text):
        parts.append(PromptPart(template.text[position : match.start()], "instructions", "instructions"))
        name = match.group(1).strip()
        parts.append(PromptPart(values[name], "input", name))
        position = match.end()
    parts.append(PromptPart(template.text[position:], "instructions", "instructions"))
    return parts


def _chat_messages(prompt, system):
    if isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, (list, tuple)):
        messages = [dict(message) for message in prompt]
    elif hasattr(prompt, "prompt_messages"):
        messages = prompt.prompt_messages()
    else:
        raise TemplateError(
            "A chat prompt is a string (one user message) or a list of "
            f"{{'role', 'content'}} messages. Received: {type(prompt).__name__}"
        )
    if system is not None:
        if messages and messages[0]["role"] == "system":
            raise TemplateError("Give the system prompt either in the messages or as `system`, not both.")
        messages.insert(0, {"role": "system", "content": system})
    if not messages or messages[-1]["role"] != "user":
        raise TemplateError("A chat prompt must end with a user message.")
    return messages


def _chat_template_parts(template, prompt, system):
    messages = _chat_messages(prompt, system)
    parts = []
    system_prefix = []
    if messages[0]["role"] == "system":
        content = messages[0]["content"]
        messages = messages[1:]
        if template.system_start is None:
            if not messages:
                raise TemplateError(f"The {template.name} template needs a user message after the system prompt.")
            system_prefix = [
                PromptPart(content, "instructions", "system"),
                PromptPart(template.system_separator, "markup", "markup"),
            ]
        else:
            parts += [
                PromptPart(template.system_start, "markup", "markup"),
                PromptPart(content, "instructions", "system"),
                PromptPart(template.end_marker + template.trailer, "markup", "markup"),
            ]
    if system_prefix and messages[0]["role"] != "user":
        raise TemplateError(
            f"The {template.name} template puts the system prompt into the first "
            "user turn, so a user message must follow it."
        )
    last = len(messages) - 1
    for index, message in enumerate(messages):
        role, content = message["role"], message["content"]
        kind, label = ("input", "user") if index == last else ("examples", f"turn {index + 1} ({role})")
        if role == "assistant":
            parts.append(PromptPart(template.assistant_start, "markup", "markup"))
            parts.append(PromptPart(content, kind, label))
        elif role == "user":
            parts.append(PromptPart(template.user_start, "markup", "markup"))
            parts += system_prefix if index == 0 else []
            parts.append(PromptPart(content, kind, label))
        else:
            raise TemplateError(f"The {template.name} template has no {role!r} role here.")
        parts.append(PromptPart(template.end_marker + template.trailer, "markup", "markup"))
    parts.append(PromptPart(template.assistant_start, "markup", "markup"))
    return parts


def _alpaca_parts(template, prompt):
    if isinstance(prompt, dict):
        instruction, input_text = prompt.get("instruction"), prompt.get("input", "") or ""
    else:
        instruction, input_text = prompt, ""
    if not isinstance(instruction, str):
        raise TemplateError("The alpaca template needs an instruction string (or a dict with 'instruction').")
    header = template.format(instruction, input_text).split("\n\n### Instruction:\n")[0]
    parts = [
        PromptPart(header, "instructions", "instructions"),
        PromptPart("\n\n### Instruction:\n", "markup", "markup"),
        PromptPart(instruction, "input", "instruction"),
    ]
    if input_text:
        parts += [
            PromptPart("\n\n### Input:\n", "markup", "markup"),
            PromptPart(input_text, "input", "input"),
        ]
    parts.append(PromptPart("\n\n### Response:\n", "markup", "markup"))
    return parts


def prompt_parts(template, prompt, *, system=None):
    """Render `prompt` with `template` as a list of labelled `PromptPart`s.

    Args:
        template: `None` (the prompt is used as it is), a template name or
            text with `{{placeholders}}`, or a template object.
        prompt: str, dict or list. For a `PromptTemplate`: a dict of
            placeholder values (or a string for a one-placeholder template);
            for a chat template: a user message or a list of messages; for
            Alpaca: an instruction or `{"instruction", "input"}`.
        system: str. A system prompt for a chat template. Defaults to `None`.

    Returns:
        A list of `PromptPart`, empty pieces left out; their texts joined are
        the rendered prompt.
    """
    if template is None:
        if not isinstance(prompt, str):
            raise TemplateError("Without a template the prompt must be a string.")
        parts = [PromptPart(prompt, "input", "input")]
    else:
        template = get_template(template)
        if system is not None and not isinstance(template, ChatTemplate):
            raise TemplateError("`system` is only used with a chat template (gemma, phi3, chatml).")
        if isinstance(template, PromptTemplate):
            parts = _prompt_template_parts(template, prompt)
        elif isinstance(template, ChatTemplate):
            parts = _chat_template_parts(template, prompt, system)
        elif isinstance(template, AlpacaTemplate):
            parts = _alpaca_parts(template, prompt)
        else:
            raise TemplateError(f"Cannot split a prompt rendered by {template!r} into parts.")
    parts = [part for part in parts if part.text]
    if not parts:
        raise TemplateError("The prompt is empty.")
    return parts
