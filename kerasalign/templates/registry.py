"""Look up templates by name: `get("gemma")`, `get("alpaca")`, ...

Examples:

>>> get("chatml").name
'chatml'
>>> sorted(available())
['alpaca', 'chatml', 'classify_sentiment', 'gemma', 'phi3', 'summarize_article', 'translate']
"""

from kerasalign.errors import TemplateError
from kerasalign.templates.alpaca_template import AlpacaTemplate
from kerasalign.templates.chat_template import (
    CHAT_TEMPLATES,
    ChatTemplate,
    get_chat_template,
)
from kerasalign.templates.prompt_template import PromptTemplate

# Named prompt templates used by the built-in datasets.
PROMPT_TEMPLATES = {
    "summarize_article": (
        "The following examples show an expert scientist summarizing the key "
        "points of an article. Article: {{article}}\nSummary:"
    ),
    "translate": "Translate the following text into {{language}}.\nText: {{text}}\nTranslation:",
    "classify_sentiment": (
        "Classify the sentiment of the following text as positive, negative or "
        "neutral.\nText: {{text}}\nSentiment:"
    ),
}


def available():
    """Names of the built-in templates."""
    return sorted(CHAT_TEMPLATES) + ["alpaca"] + sorted(PROMPT_TEMPLATES)


def get(name):
    """Return a template: a built-in name, or a template object as is.

    Args:
        name: str or template. `"gemma"`, `"phi3"`, `"chatml"`, `"alpaca"`,
            a named prompt template (`"summarize_article"`, `"translate"`,
            `"classify_sentiment"`), a string containing `{{placeholders}}`
            (made into a `PromptTemplate`), or a template object.
    """
    if isinstance(name, (ChatTemplate, AlpacaTemplate, PromptTemplate)):
        return name
    if not isinstance(name, str):
        raise TemplateError(f"A template must be a name or a template object. Received: {name!r}")
    if name in CHAT_TEMPLATES:
        return get_chat_template(name)
    if name == "alpaca":
        return AlpacaTemplate()
    if name in PROMPT_TEMPLATES:
        return PromptTemplate(PROMPT_TEMPLATES[name], name=name)
    if "{{" in name or "}}" in name:
        return PromptTemplate(name)
    raise TemplateError(
        f"Unknown template {name!r}; built-in templates are "
        f"{sorted(CHAT_TEMPLATES) + ['alpaca'] + sorted(PROMPT_TEMPLATES)}, or "
        "pass text with {{placeholders}}."
    )
