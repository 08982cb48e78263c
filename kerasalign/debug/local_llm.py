"""Use a local KerasHub model as the LLM and the responder of template refinement.

Template refinement needs two functions: an LLM that turns feedback into
principles and rewrites the template (`(prompt: str) -> str`; an API client
works as well), and a responder that answers the evaluation prompts with the
model being aligned (`(prompts: list of str) -> list of str`). Both can be
the same local model.

Examples:

>>> import kerasalign
>>> causal_lm = kerasalign.load_causal_lm("tiny_gemma")
>>> llm = model_llm(causal_lm, max_new_tokens=4)
>>> isinstance(llm("Write a principle."), str)
True
>>> respond = model_responder(causal_lm, template="gemma", max_new_tokens=4)
>>> len(respond(["Hi", "Hello"]))
2
"""

from kerasalign.models.generation import generate
from kerasalign.templates import get as get_template


def _cut_at_stops(text, template):
    for stop in getattr(template, "stop_strings", None) or []:
        text = text.split(stop)[0]
    return text


def model_llm(causal_lm, *, template=None, max_new_tokens=256, **generate_kwargs):
    """An LLM callable `(prompt: str) -> str` backed by a local model.

    Args:
        causal_lm: a KerasHub `CausalLM` with a preprocessor.
        template: str or template. Chat template wrapping each request, e.g.
            `"gemma"` for an instruction-tuned Gemma. Defaults to `None`
            (the request is continued as plain text).
        max_new_tokens: int. Defaults to `256`.
        **generate_kwargs: `sampler`, `temperature`, ... for
            `kerasalign.models.generation.generate`.
    """
    resolved = get_template(template) if template is not None else None

    def llm(prompt):
        [text] = generate(causal_lm, [prompt], template=resolved, max_new_tokens=max_new_tokens, **generate_kwargs)
        return _cut_at_stops(text, resolved)

    return llm


def model_responder(causal_lm, *, template=None, max_new_tokens=64, batch_size=8, **generate_kwargs):
    """A responder `(prompts: list of str) -> list of str` backed by a local model.

    Args:
        causal_lm: a KerasHub `CausalLM` with a preprocessor.
        template: str or template. Chat template wrapping each rendered
            prompt as a user turn, e.g. `"gemma"`. Defaults to `None`.
        max_new_tokens: int. Defaults to `64`.
        batch_size: int. Prompts per `generate` call. Defaults to `8`.
        **generate_kwargs: passed to `generate`.
    """
    resolved = get_template(template) if template is not None else None

    def respond(prompts):
        outputs = generate(
            causal_lm,
            list(prompts),
            template=resolved,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            **generate_kwargs,
        )
        return [_cut_at_stops(text, resolved) for text in outputs]

    return respond
