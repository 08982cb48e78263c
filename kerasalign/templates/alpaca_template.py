"""`AlpacaTemplate`: the Stanford Alpaca instruction format (single turn).

Examples:

>>> from kerasalign.data.schema import SFTExample
>>> example = SFTExample(prompt="Name a colour.", response="Blue.")
>>> print(AlpacaTemplate().render_prompt(example))
Below is an instruction that describes a task. Write a response that appropriately completes the request.
<BLANKLINE>
### Instruction:
Name a colour.
<BLANKLINE>
### Response:
<BLANKLINE>
"""

from kerasalign.errors import TemplateError
from kerasalign.templates.segments import Segment

HEADER = (
    "Below is an instruction that describes a task. Write a response that "
    "appropriately completes the request."
)
HEADER_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that "
    "provides further context. Write a response that appropriately completes "
    "the request."
)


class AlpacaTemplate:
    """The Alpaca format, with `### Input:` when the example has an input.

    The instruction comes from `variables["instruction"]` (with optional
    `variables["input"]`) or from the example's `prompt`. The response is
    followed by the tokenizer's end-of-sequence token, which carries loss.
    """

    name = "alpaca"
    append_eos = True
    stop_strings = []

    def _instruction_and_input(self, example):
        if isinstance(example, str):
            return example, ""
        variables = getattr(example, "variables", None) or {}
        if "instruction" in variables:
            return variables["instruction"], variables.get("input", "") or ""
        messages = getattr(example, "messages", None)
        if messages:
            users = [m for m in messages if m["role"] == "user"]
            if len(users) != 1:
                raise TemplateError("The alpaca template is single-turn; use a chat template for conversations.")
            return users[0]["content"], ""
        if getattr(example, "prompt", None) is None:
            raise TemplateError("The alpaca template needs a `prompt` or `variables['instruction']`.")
        return example.prompt, ""

    def format(self, instruction, input=""):
        """Render the prompt for an instruction and an optional input."""
        if input:
            return (
                f"{HEADER_WITH_INPUT}\n\n### Instruction:\n{instruction}\n\n"
                f"### Input:\n{input}\n\n### Response:\n"
            )
        return f"{HEADER}\n\n### Instruction:\n{instruction}\n\n### Response:\n"

    def render_prompt(self, example):
        """The prompt text for an example (for generation)."""
        instruction, input_text = self._instruction_and_input(example)
        system = getattr(example, "system", None)
        prompt = self.format(instruction, input_text)
        return f"{system}\n\n{prompt}" if system else prompt

    def segments(self, example):
        """The prompt (no loss) and the response (loss)."""
        response = example.response
        if response is None and getattr(example, "messages", None):
            response = example.messages[-1]["content"]
        return [Segment(self.render_prompt(example), False), Segment(response, True)]

    def __repr__(self):
        return "AlpacaTemplate()"
