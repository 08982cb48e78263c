"""The two LLM requests of template refinement, and checks on the answers.

1. Feedback -> principles: the LLM reads the critiques and kudos and writes
   a few short, general principles ("Refuse requests for weapons and say
   why."); `parse_principles` takes the bullet lines of its answer.
2. Principles -> template: the LLM rewrites the template's instructions to
   follow the principles; `parse_template_text` takes the text between
   `<template>` tags (or a code fence, or the whole answer), and
   `check_placeholders` makes sure the revision still has every placeholder
   of the original: a revision that drops `{{input}}` would silently stop
   showing the model the user's request.

Examples:

>>> parse_principles("Here you go:\\n- Refuse weapon requests.\\n* Be brief.")
['Refuse weapon requests.', 'Be brief.']
>>> parse_template_text("<template>Be safe.\\n{{input}}</template>")
'Be safe.\\n{{input}}'
>>> text, notes = check_placeholders("Be kind.\\nQ: {{input}}\\nA:", "Be kind and safe.")
>>> print(text)
Be kind and safe.
Q: {{input}}
A:
>>> notes
["The revision dropped {{input}}; appended the original input block 'Q: {{input}}\\\\nA:'."]
"""

import re

from kerasalign.errors import TemplateError
from kerasalign.templates.prompt_template import _PLACEHOLDER, parse_placeholders

MAX_PRINCIPLE_CHARS = 200
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+(.*\S)\s*$")
_FEEDBACK_LINE = re.compile(r"^(?:\d+[.)]\s*)?\[(?:critique|kudos)\]", re.IGNORECASE)
_TAGGED = re.compile(r"<template>\s*(.*?)\s*(?:</template>|$)", re.DOTALL)
_FENCED = re.compile(r"```[a-zA-Z]*\n(.*?)(?:```|$)", re.DOTALL)


def _quote_prompt(prompt):
    if isinstance(prompt, dict):
        return "; ".join(f"{name}={value!r}" for name, value in prompt.items())
    return repr(prompt)


def principles_request(template_text, feedback, principles, max_principles):
    """The LLM prompt that turns feedback into principles."""
    lines = []
    for number, item in enumerate(feedback, 1):
        about = ""
        if item.prompt is not None:
            about += f" Prompt: {_quote_prompt(item.prompt)}."
        if item.output is not None:
            about += f" Output: {item.output!r}."
        lines.append(f"{number}. [{item.kind}]{about} Comment: {item.text}")
    known = "".join(f"- {principle}\n" for principle in principles) or "(none yet)\n"
    return (
        "You improve a prompt template from feedback on the outputs it produced.\n\n"
        f"Template:\n<template>\n{template_text}\n</template>\n\n"
        f"Principles it already follows:\n{known}\n"
        "Feedback:\n" + "\n".join(lines) + "\n\n"
        f"Write at most {max_principles} new short, general principles for the "
        "template's instructions that fix the critiques and keep what the kudos "
        'praise. One principle per line, each line starting with "- ".\n\n'
        "New principles:\n- "
    )


def parse_principles(text, max_principles=5):
    """The principles in an LLM's answer: its bullet or numbered lines.

    The request ends with `"- "`, so an answer that goes straight on with a
    principle gets that bullet back (unless its first line ends with a
    colon, an introduction such as "Here you go:"). Without any bullet line, the non-empty
    lines are taken. Principles are stripped, cut to 200 characters and
    de-duplicated (case-insensitively); repeated feedback lines
    (`[critique] ...`) are dropped.
    """
    text = str(text).lstrip()
    first_line = text.splitlines()[0] if text else ""
    if first_line and not _BULLET.match(first_line) and not first_line.rstrip().endswith(":"):
        text = "- " + text
    lines = [line for line in text.splitlines() if line.strip()]
    bullets = [match.group(1) for match in map(_BULLET.match, lines) if match]
    candidates = bullets or [line.strip() for line in lines]
    principles, seen = [], set()
    for candidate in candidates:
        principle = candidate.strip()[:MAX_PRINCIPLE_CHARS]
        if _FEEDBACK_LINE.match(principle):
            continue  # a feedback line repeated, not a principle
        if principle and principle.lower() not in seen:
            seen.add(principle.lower())
            principles.append(principle)
    return principles[:max_principles]


def rewrite_request(template_text, principles, placeholders):
    """The LLM prompt that rewrites a template to follow principles."""
    names = ", ".join("{{" + name + "}}" for name in placeholders)
    rules = "".join(f"- {principle}\n" for principle in principles)
    return (
        "Rewrite the instructions of the prompt template below so that they follow "
        f"these principles:\n{rules}\n"
        f"Keep every placeholder exactly as written ({names}) and keep the template "
        "short. Reply with the new template only, between <template> and </template>.\n\n"
        f"<template>\n{template_text}\n</template>\n\n"
        "New template:\n<template>\n"
    )


def parse_template_text(text):
    """The template in an LLM's answer: tagged, fenced, or the whole answer.

    The request ends with an open `<template>` tag, so an answer that goes
    straight on with the template and closes the tag is read up to the tag.
    """
    text = str(text)
    if "</template>" in text and "<template>" not in text.split("</template>")[0]:
        text = "<template>" + text
    for pattern in (_TAGGED, _FENCED):
        match = pattern.search(text)
        if match and match.group(1).strip():
            return match.group(1).strip()
    return text.strip()


def _input_block(original, name):
    """The original text from the line holding `{{name}}` to the end."""
    match = next(m for m in _PLACEHOLDER.finditer(original) if m.group(1).strip() == name)
    line_start = original.rfind("\n", 0, match.start()) + 1
    return original[line_start:]


def check_placeholders(original, revised, *, repair=True):
    """Check that a revised template has exactly the original's placeholders.

    Args:
        original: str. The template text before revision.
        revised: str. The template text the LLM wrote.
        repair: bool. Repair instead of raising: append the original input
            block (from the line of the first missing placeholder to the end)
            when placeholders were dropped, and turn placeholders the
            original does not have into plain words. Defaults to `True`.

    Returns:
        `(text, notes)`: the (repaired) text and a list of what was repaired.

    Raises:
        TemplateError: the revision is empty, malformed or only
            placeholders (no instructions left), or (with
            `repair=False`) its placeholders differ from the original's.
    """
    expected = parse_placeholders(original)
    if not revised or not revised.strip():
        raise TemplateError("The revision is empty: the LLM returned no template.")
    try:
        found = parse_placeholders(revised)
    except TemplateError as error:
        raise TemplateError(f"The revision is not a valid template: {error}") from None
    if not _PLACEHOLDER.sub("", revised).strip():
        raise TemplateError(
            "The revision has no instructions left, only placeholders; a rewrite "
            "must keep the template's instructions."
        )
    missing = [name for name in expected if name not in found]
    extra = [name for name in found if name not in expected]
    if not repair and (missing or extra):
        problems = []
        if missing:
            problems.append("drops " + ", ".join("{{" + n + "}}" for n in missing))
        if extra:
            problems.append("adds unknown " + ", ".join("{{" + n + "}}" for n in extra))
        raise TemplateError(
            f"The revised template {' and '.join(problems)}; a revision must keep "
            f"exactly the placeholders {expected} of the original."
        )
    notes = []
    text = revised
    if extra:
        text = _PLACEHOLDER.sub(
            lambda m: m.group(1).strip() if m.group(1).strip() in extra else m.group(0), text
        )
        notes.append(
            "The revision added unknown placeholders "
            + ", ".join("{{" + n + "}}" for n in extra)
            + "; they were turned into plain words."
        )
    if missing:
        # `missing[0]` comes first in the original, so the block holds every
        # missing placeholder (and maybe present ones too: a placeholder
        # written twice gets the same value twice).
        block = _input_block(original, missing[0])
        text = text.rstrip("\n") + "\n" + block
        notes.append(
            "The revision dropped "
            + ", ".join("{{" + n + "}}" for n in missing)
            + f"; appended the original input block {block!r}."
        )
    return text, notes
