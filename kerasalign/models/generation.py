"""Text generation with a template and a named sampler, on KerasHub's `generate`.

Examples:

>>> import kerasalign
>>> model = kerasalign.load_causal_lm("tiny_gemma")
>>> [text] = generate(model, ["Hello"], template="gemma", max_new_tokens=4)
>>> isinstance(text, str)
True
"""

import keras
import keras_hub

from kerasalign.errors import KerasAlignError
from kerasalign.templates import get as get_template
from kerasalign.templates.chat_template import ChatTemplate

SAMPLERS = ("greedy", "top_k", "top_p")

# Generation lengths are rounded up to a multiple of this, so that prompts of
# similar length reuse one compiled generate function instead of compiling a
# new one per batch. KerasHub's loop runs until every row has stopped or the
# length is reached, so each token of rounding is a decoding step for the
# whole batch whenever one answer is still going: with 64, the quick run's
# evaluation decoded 108 steps for 40 + 10 needed; 16 keeps that waste small
# for one more compile now and then.
LENGTH_BUCKET = 16


def make_sampler(name="greedy", *, temperature=1.0, top_k=50, top_p=0.9, seed=None):
    """Build a KerasHub sampler by name.

    Args:
        name: str. `"greedy"`, `"top_k"` or `"top_p"`. Defaults to `"greedy"`.
        temperature: float. Softmax temperature of the sampling samplers.
            Defaults to `1.0`.
        top_k: int. `k` of top-k sampling. Defaults to `50`.
        top_p: float. `p` of nucleus sampling. Defaults to `0.9`.
        seed: int. Sampling seed. Defaults to `None`.
    """
    if name == "greedy":
        return keras_hub.samplers.GreedySampler()
    if temperature <= 0:
        raise KerasAlignError(f"temperature must be positive. Received: {temperature!r}")
    if name == "top_k":
        if top_k < 1:
            raise KerasAlignError(f"top_k must be >= 1. Received: {top_k!r}")
        return keras_hub.samplers.TopKSampler(k=top_k, temperature=temperature, seed=seed)
    if name == "top_p":
        if not 0 < top_p <= 1:
            raise KerasAlignError(f"top_p must be in (0, 1]. Received: {top_p!r}")
        return keras_hub.samplers.TopPSampler(p=top_p, temperature=temperature, seed=seed)
    raise KerasAlignError(f"sampler must be one of {list(SAMPLERS)}. Received: {name!r}")


def stop_token_ids(model, template=None):
    """End-of-sequence plus the template's end-of-turn marker, as token ids."""
    tokenizer = model.preprocessor.tokenizer
    ids = [tokenizer.end_token_id]
    for text in getattr(template, "stop_strings", []) or []:
        token_id = tokenizer.token_to_id(text)
        if token_id is not None and token_id != tokenizer.token_to_id("<unk>"):
            ids.append(int(token_id))
    return tuple(dict.fromkeys(ids))


def cut_stop_text(response, stop_strings):
    """`response` without the end-of-turn markers generation left at its end.

    KerasHub's `generate` keeps the stop token it stopped at; the chat
    template adds its own when the text is trained on or shown again.

    >>> cut_stop_text("Paris.<end_of_turn> ", ["<end_of_turn>"])
    'Paris.'
    """
    text = response.rstrip()
    stops = [stop for stop in stop_strings if stop]
    while stop := next((stop for stop in stops if text.endswith(stop)), None):
        text = text[: -len(stop)].rstrip()
    return text


def balanced_batches(items, batch_size):
    """Split `items` into batches of one size, at most `batch_size`.

    The batches are as even as they can be, and the short ones are filled up
    by repeating their last item, so that every batch has the same shape and
    one compiled generate function serves them all (a remainder batch of
    another size would compile its own).

    Args:
        items: list.
        batch_size: int. The largest batch.

    Returns:
        A list of `(batch, real)`: each batch, and how many of its items are
        real (the rest are repeats to drop).

    Examples:

    >>> balanced_batches(list("abcde"), 4)
    [(['a', 'b', 'c'], 3), (['d', 'e', 'e'], 2)]
    >>> balanced_batches(list("abc"), 8)
    [(['a', 'b', 'c'], 3)]
    """
    # Here, not at the top: importing `kerasalign.trainers` imports the
    # trainers, and the online ones import this module.
    from kerasalign.trainers.argument_checks import check_integer

    batch_size = check_integer("batch_size", batch_size)
    if not items:
        return []
    count = -(-len(items) // batch_size)
    size = -(-len(items) // count)
    batches = []
    for start in range(0, len(items), size):
        batch = list(items[start : start + size])
        real = len(batch)
        batches.append((batch + [batch[-1]] * (size - real), real))
    return batches


def render_prompts(prompts, template=None):
    """Apply a template to raw prompts (or return them as they are)."""
    if template is None:
        return list(prompts)
    template = get_template(template)
    return [template.render_prompt(prompt) for prompt in prompts]


def generate(
    model,
    prompts,
    *,
    template=None,
    max_new_tokens=64,
    sampler="greedy",
    batch_size=8,
    verbose=0,
    **sampler_kwargs,
):
    """Generate a completion for each prompt.

    Args:
        model: `keras_hub.models.CausalLM` with a preprocessor.
        prompts: list of str (or records / message lists with a template).
        template: str or template. Applied to each prompt; `None` uses the
            prompt as is (a pretrained model continues the text).
            Defaults to `None`.
        max_new_tokens: int. Tokens to generate after the longest prompt.
            Defaults to `64`.
        sampler: str. `"greedy"`, `"top_k"` or `"top_p"`. Defaults to
            `"greedy"`.
        batch_size: int. The most prompts per `generate` call; the prompts
            are split into batches of one size (`balanced_batches`).
            Defaults to `8`.
        verbose: int. `1` shows a Keras progress bar of the prompts done
            (evaluations of a few hundred prompts take minutes on a CPU);
            `0` is silent. Defaults to `0`.
        **sampler_kwargs: `temperature`, `top_k`, `top_p`, `seed`.

    Returns:
        A list of completions, one per prompt: the prompt removed and, with a
        chat template, the end-of-turn marker generation stopped at.
    """
    if model.preprocessor is None:
        raise KerasAlignError("generate needs a model with a preprocessor (tokenizer).")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise KerasAlignError(f"max_new_tokens must be a positive integer. Received: {max_new_tokens!r}")
    resolved = get_template(template) if template is not None else None
    texts = render_prompts(prompts, resolved)
    if not texts:
        return []
    _use_sampler(model, sampler, sampler_kwargs)
    tokenizer = model.preprocessor.tokenizer
    chat = resolved if isinstance(resolved, ChatTemplate) else None
    stops = stop_token_ids(model, chat)
    stop_strings = getattr(chat, "stop_strings", None) or ()
    progress = keras.utils.Progbar(len(texts), unit_name="prompt") if verbose else None
    outputs = []
    for chunk, real in balanced_batches(texts, batch_size):
        longest = max(len(ids) for ids in tokenizer.tokenize(chunk)) + 1
        max_length = -(-(longest + max_new_tokens) // LENGTH_BUCKET) * LENGTH_BUCKET
        completions = model.generate(
            chunk, max_length=max_length, stop_token_ids=stops, strip_prompt=True
        )
        if isinstance(completions, str):
            completions = [completions]
        completions = [str(text) for text in completions[:real]]
        texts_cut = _first_tokens(tokenizer, completions, max_new_tokens)
        outputs.extend(cut_stop_text(text, stop_strings) for text in texts_cut)
        if progress is not None:
            progress.update(len(outputs))
    return outputs


def _use_sampler(model, name, kwargs):
    """Compile the sampler into the model unless it is already the one in use.

    `CausalLM.compile` drops the compiled generate function, so compiling on
    every call would recompile generation every time. The sampler object is
    remembered too: when other code compiled the model with another sampler
    since (the RLHF trainers compile their sampling sampler into the policy),
    the key alone would still match and `"greedy"` would silently sample.
    """
    key = (name, tuple(sorted(kwargs.items())))
    cached = getattr(model, "_kerasalign_sampler", None)
    if cached is None or cached[0] != key or getattr(model, "sampler", None) is not cached[1]:
        model.compile(sampler=make_sampler(name, **kwargs))
        model._kerasalign_sampler = (key, model.sampler)


def _first_tokens(tokenizer, texts, count):
    """Cut each text to its first `count` tokens (the length bucket may add more)."""
    token_lists = tokenizer.tokenize(texts)
    cut = []
    for text, ids in zip(texts, token_lists, strict=True):
        ids = [int(token) for token in ids]
        cut.append(text if len(ids) <= count else str(tokenizer.detokenize([ids[:count]])[0]))
    return cut
