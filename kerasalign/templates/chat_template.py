"""`ChatTemplate`: multi-turn chat formats (Gemma, Phi-3, ChatML).

A chat template renders a conversation of `{"role", "content"}` messages into
the exact text a model was trained on, and splits it into segments so that
only the assistant's words (and the marker that ends its turn) carry loss.

Examples:

>>> gemma = get_chat_template("gemma")
>>> gemma.render([{"role": "user", "content": "Hello"}], add_generation_prompt=True)
'<start_of_turn>user\\nHello<end_of_turn>\\n<start_of_turn>model\\n'
"""

from kerasalign.errors import TemplateError
from kerasalign.templates.segments import Segment, merge_segments


class ChatTemplate:
    """A chat format described by its turn markers.

    A user turn renders as `user_start + content + end_marker + trailer`; an
    assistant turn as `assistant_start + content + end_marker + trailer`, of
    which `content + end_marker` is the training target.

    Args:
        name: str. The template's name.
        user_start: str. Text that opens a user turn.
        assistant_start: str. Text that opens an assistant turn (also the
            generation prompt).
        end_marker: str. Text that closes a turn (e.g. `<end_of_turn>`).
        trailer: str. Text after `end_marker`. Defaults to `"\\n"`.
        system_start: str. Text that opens a system turn, or `None` when the
            format has no system role: the system prompt is then put at the
            start of the first user turn, followed by `system_separator`
            (Gemma's convention). Defaults to `None`.
        system_separator: str. Defaults to `"\\n\\n"`.
    """

    append_eos = False

    def __init__(
        self,
        name,
        user_start,
        assistant_start,
        end_marker,
        trailer="\n",
        system_start=None,
        system_separator="\n\n",
    ):
        self.name = name
        self.user_start = user_start
        self.assistant_start = assistant_start
        self.end_marker = end_marker
        self.trailer = trailer
        self.system_start = system_start
        self.system_separator = system_separator

    @property
    def stop_strings(self):
        """Text that ends a model turn; generation stops there."""
        return [self.end_marker]

    def _fold_system(self, messages):
        if not messages or messages[0]["role"] != "system" or self.system_start:
            return messages
        system, rest = messages[0]["content"], list(messages[1:])
        if not rest or rest[0]["role"] != "user":
            raise TemplateError(
                f"The {self.name} template puts the system prompt into the first "
                "user turn, so a user message must follow it."
            )
        rest[0] = {
            "role": "user",
            "content": system + self.system_separator + rest[0]["content"],
        }
        return rest

    def segments_for_messages(self, messages, add_generation_prompt=False):
        """Render `messages` as segments; assistant turns are targets."""
        if not messages:
            raise TemplateError("Cannot render an empty conversation.")
        segments = []
        for message in self._fold_system(messages):
            role, content = message["role"], message["content"]
            if role == "assistant":
                segments.append(Segment(self.assistant_start, False))
                segments.append(Segment(content + self.end_marker, True))
                segments.append(Segment(self.trailer, False))
                continue
            start = self.user_start if role == "user" else self.system_start
            if start is None:
                raise TemplateError(f"The {self.name} template has no {role!r} role.")
            segments.append(Segment(start + content + self.end_marker + self.trailer, False))
        if add_generation_prompt:
            segments.append(Segment(self.assistant_start, False))
        return merge_segments(segments)

    def render(self, messages, add_generation_prompt=False):
        """Render `messages` as text, optionally ending with the model's turn."""
        return "".join(
            s.text for s in self.segments_for_messages(messages, add_generation_prompt)
        )

    def segments(self, example):
        """Segments of an `SFTExample` (loss on every assistant turn)."""
        if getattr(example, "prompt", None) is None and not getattr(example, "messages", None):
            raise TemplateError(
                f"The {self.name} chat template needs a `prompt` or `messages`; "
                "examples with template `variables` need a PromptTemplate."
            )
        return self.segments_for_messages(example.conversation())

    def render_prompt(self, example):
        """The generation prompt: the conversation so far and the model turn.

        `example` is a string (one user message), a list of messages, or a
        record with `prompt_messages()` or `prompt`/`messages`.
        """
        return self.render(_prompt_messages(example), add_generation_prompt=True)

    def __repr__(self):
        return f"ChatTemplate(name={self.name!r})"


def _prompt_messages(example):
    if isinstance(example, str):
        return [{"role": "user", "content": example}]
    if isinstance(example, (list, tuple)):
        return list(example)
    if hasattr(example, "prompt_messages"):
        return example.prompt_messages()
    messages = list(getattr(example, "messages", None) or [])
    if getattr(example, "prompt", None) is not None:
        messages.append({"role": "user", "content": example.prompt})
    system = getattr(example, "system", None)
    if system is not None and (not messages or messages[0]["role"] != "system"):
        messages.insert(0, {"role": "system", "content": system})
    return messages


CHAT_TEMPLATES = {
    # https://ai.google.dev/gemma/docs/core/prompt-structure: Gemma has no
    # system role; Gemma 3's template prepends the system prompt to the first
    # user turn followed by a blank line.
    "gemma": dict(
        user_start="<start_of_turn>user\n",
        assistant_start="<start_of_turn>model\n",
        end_marker="<end_of_turn>",
    ),
    "phi3": dict(
        user_start="<|user|>\n",
        assistant_start="<|assistant|>\n",
        end_marker="<|end|>",
        system_start="<|system|>\n",
    ),
    "chatml": dict(
        user_start="<|im_start|>user\n",
        assistant_start="<|im_start|>assistant\n",
        end_marker="<|im_end|>",
        system_start="<|im_start|>system\n",
    ),
}


def get_chat_template(name):
    """Return a built-in `ChatTemplate` by name."""
    if name not in CHAT_TEMPLATES:
        raise TemplateError(
            f"Unknown chat template {name!r}; known: {sorted(CHAT_TEMPLATES)}."
        )
    return ChatTemplate(name, **CHAT_TEMPLATES[name])
