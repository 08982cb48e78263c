"""Prompt and chat templates."""

from kerasalign.templates.alpaca_template import AlpacaTemplate
from kerasalign.templates.chat_template import ChatTemplate
from kerasalign.templates.prompt_template import PromptTemplate
from kerasalign.templates.registry import available, get
from kerasalign.templates.segments import Segment

__all__ = ["AlpacaTemplate", "ChatTemplate", "PromptTemplate", "Segment", "available", "get"]
