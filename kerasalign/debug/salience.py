"""Prompt salience: which prompt tokens drove a model's response.

`compute_salience` attributes the log-probability of a response (generated
greedily, or given) to each prompt token, from the gradient of
`log p(response | prompt)` with respect to the input embeddings:

- `"grad_norm"`: the L2 norm of the gradient at each token (how sensitive
  the response is to that token; never negative);
- `"grad_x_input"`: the dot product of gradient and embedding (a first-order
  estimate of the token's contribution; signed). It measures the effect of
  scaling a token's embedding, which Gemma's pre-norm blocks largely
  normalize away: where a token reaches the output only through RMS-normed
  layers its score is near zero whatever its influence;
- `"integrated_gradients"`: gradient x (embedding - baseline), with the
  gradient averaged along the straight path from a baseline (zero or pad
  embeddings at every prompt position; the start token and the response keep
  their embeddings) to the prompt, with `steps` midpoint samples. The scores
  sum to about `log p(response | prompt) - log p(response | baseline)`
  (completeness); `details["completeness_gap"]` says how far off they are.
  The default baseline is the pad token's embedding: Gemma's RMS norms make
  the path from all-zero embeddings nearly singular at its start (the normed
  input jumps from zero to its final direction), which a sampled path misses;
  on the tiny presets the zero baseline's gap stayed near 0.5-3 nats even
  with 128 steps, the pad baseline's fell below 0.001 with 32.

Which to use: the gradient methods cost one forward and backward pass, and
say how sensitive the response is to each token, which is not the same as
how much the token contributed. With the real Gemma 3 270M, for "The capital
of France is" -> " Paris", integrated gradients ranks " France" first (8.9 of
the 23.6 nats the prompt adds over the pad baseline), while the gradient norm
ranks " capital" first and gradient x input " of". Integrated gradients
costs `steps` passes (in batches of `batch_size`); its completeness gap on
that example was -2.5 nats with 16 steps, 0.12 with 32 and 0.0001 with 64.

Log-probabilities are summed over response tokens. Works on JAX, TensorFlow
and PyTorch (`kerasalign.backend_ops.value_and_grad`) for Gemma, Gemma 2 and
Gemma 3 models.

Examples:

>>> import kerasalign
>>> from kerasalign.debug import compute_salience
>>> causal_lm = kerasalign.load_causal_lm("tiny_gemma")
>>> result = compute_salience(
...     causal_lm, "Is the sky blue?", target=" Yes.",
...     template="Answer the question.\\nQuestion: {{question}}\\nAnswer:",
...     method="grad_x_input")
>>> [segment["segment"] for segment in result.segment_scores()]
['instructions', 'input']
>>> print(result.to_terminal(color=False).splitlines()[-3])  # doctest: +ELLIPSIS
--> ' Yes.' (log p = ..., grad_x_input)
>>> html = result.to_html()  # a notebook shows `result` as this heat map
"""

import codecs
import re
import weakref

import numpy as np
from keras import ops

from kerasalign.backend_ops import gradient_function
from kerasalign.data.tokenization import token_id_lists
from kerasalign.debug.embedding_forward import (
    check_backbone,
    embed_tokens,
    target_log_probs,
)
from kerasalign.debug.prompt_part import prompt_parts
from kerasalign.debug.salience_result import SalienceResult
from kerasalign.errors import KerasAlignError
from kerasalign.templates import get as get_template

METHODS = ("grad_norm", "grad_x_input", "integrated_gradients")
BASELINES = ("zero", "pad")
_BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def token_texts(tokenizer, token_ids):
    """The text each token stands for, so that joined they spell the text.

    SentencePiece's word marker becomes a space, and byte-fallback pieces
    (`<0xE2>`) are decoded as UTF-8: a character made of several bytes is
    given to its last byte's token, the others are empty.

    Examples:

    >>> import kerasalign
    >>> tokenizer = kerasalign.load_causal_lm("tiny_gemma").preprocessor.tokenizer
    >>> ids = token_id_lists(tokenizer, ["Hello world\\n"])[0]
    >>> "".join(token_texts(tokenizer, ids))
    'Hello world\\n'
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    texts = []
    for token_id in token_ids:
        piece = tokenizer.id_to_token(int(token_id))
        match = _BYTE_PIECE.match(piece)
        if match:
            texts.append(decoder.decode(bytes([int(match.group(1), 16)])))
        else:
            texts.append(decoder.decode(b"", final=True) + piece.replace("\u2581", " "))
    return texts


def tokenize_parts(tokenizer, parts):
    """Tokenize the joined prompt and give each token the part it falls in.

    The prompt is tokenized as one text, as the model sees it when it
    generates (tokenizing each part on its own would split words at part
    boundaries differently: `"Words: "` + `"green"` is not `"Words: green"`).
    A token that straddles a boundary belongs to the part holding its first
    non-whitespace character. If the tokens do not spell the text back (a
    tokenizer that normalizes text), each part is tokenized on its own.

    Returns:
        `(token_ids, kinds, labels)`: three lists of equal length.
    """
    text = "".join(part.text for part in parts)
    [token_ids] = token_id_lists(tokenizer, [text])
    texts = token_texts(tokenizer, token_ids)
    if "".join(texts) != text:
        pieces = token_id_lists(tokenizer, [part.text for part in parts])
        token_ids = [token_id for piece in pieces for token_id in piece]
        owners = [index for index, piece in enumerate(pieces) for _ in piece]
    else:
        part_of_char = np.repeat(np.arange(len(parts)), [len(part.text) for part in parts])
        owners, position = [], 0
        for token_text in texts:
            stripped = len(token_text) - len(token_text.lstrip())
            anchor = position + (stripped if stripped < len(token_text) else 0)
            owners.append(int(part_of_char[min(anchor, len(text) - 1)]))
            position += len(token_text)
    return (
        list(token_ids),
        [parts[owner].kind for owner in owners],
        [parts[owner].label for owner in owners],
    )


def _generate_target(causal_lm, prompt_text, template, max_new_tokens):
    from kerasalign.models.generation import generate

    [completion] = generate(causal_lm, [prompt_text], max_new_tokens=max_new_tokens)
    for stop in getattr(template, "stop_strings", None) or []:
        completion = completion.split(stop)[0]
    if not completion.strip():
        raise KerasAlignError(
            "The model generated an empty response to attribute; give the "
            "response to explain as `target` (--target on the command line)."
        )
    return completion


def _check_arguments(method, steps, baseline, batch_size):
    if method not in METHODS:
        raise KerasAlignError(f"method must be one of {list(METHODS)}. Received: method={method!r}")
    if baseline not in BASELINES:
        raise KerasAlignError(f"baseline must be one of {list(BASELINES)}. Received: baseline={baseline!r}")
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise KerasAlignError(f"{name} must be a positive integer. Received: {name}={value!r}")


# Compiled gradient functions by backbone: on JAX a function compiled for a
# prompt and target length is reused by later calls with the same lengths.
_GRADIENT_FUNCTIONS = weakref.WeakKeyDictionary()


def _gradient_function(backbone):
    """`(embeddings, target_ids) -> (summed target log-prob, gradient)`, cached."""
    variables = backbone.variables
    key = tuple(id(variable) for variable in variables)
    cached = _GRADIENT_FUNCTIONS.get(backbone)
    if cached is not None and cached[0] == key:
        return cached[1]

    def summed_log_prob(embeddings, target_ids):
        return ops.sum(target_log_probs(backbone, embeddings, target_ids))

    function = gradient_function(summed_log_prob, variables=variables)
    _GRADIENT_FUNCTIONS[backbone] = (key, function)
    return function


def _integrated_gradients(gradient_of, embeddings, reference, prompt_slice, steps, batch_size):
    """Average gradient along the straight path from `reference` to `embeddings`.

    Every batch has `batch_size` rows (the last one is padded with repeats
    whose gradients are dropped) so that a compiled gradient function sees
    one shape.
    """
    alphas = (np.arange(steps, dtype="float32") + 0.5) / steps
    padded = np.concatenate([alphas, np.full(-steps % batch_size, alphas[-1], "float32")])
    gradient_sum = np.zeros_like(embeddings)
    for start in range(0, len(padded), batch_size):
        chunk = padded[start : start + batch_size, None, None]
        path = reference[None] + chunk * (embeddings - reference)[None]
        _, gradients = gradient_of(ops.convert_to_tensor(path))
        gradients = ops.convert_to_numpy(ops.cast(gradients, "float32"))
        kept = min(batch_size, steps - start)
        gradient_sum += gradients[:kept].sum(axis=0)
    scores = ((embeddings - reference) * gradient_sum / steps).sum(axis=-1)
    return scores[prompt_slice]


def compute_salience(
    causal_lm,
    prompt,
    target=None,
    *,
    template=None,
    system=None,
    method="grad_x_input",
    steps=32,
    baseline="pad",
    batch_size=4,
    max_new_tokens=32,
):
    """Attribute a response's log-probability to each prompt token.

    Args:
        causal_lm: a KerasHub Gemma / Gemma 2 / Gemma 3 `CausalLM` with a
            preprocessor (for its tokenizer).
        prompt: str, dict or list. The user input: a string, a dict of
            placeholder values for a `PromptTemplate`, or chat messages (see
            `kerasalign.debug.prompt_part`).
        target: str. The response to explain. Defaults to `None`: the
            model's greedy response (up to `max_new_tokens` tokens, cut at the
            template's end-of-turn marker).
        template: str or template. A chat template (`"gemma"`), `"alpaca"`,
            a named or literal `PromptTemplate`, or `None` to use the prompt
            as it is. Defaults to `None`.
        system: str. A system prompt for a chat template. Defaults to `None`.
        method: str. `"grad_norm"`, `"grad_x_input"` or
            `"integrated_gradients"`. Defaults to `"grad_x_input"`.
        steps: int. Integrated-gradients path samples. Defaults to `32`.
        baseline: str. Integrated-gradients baseline at prompt positions:
            the `"pad"` token's embedding or `"zero"` embeddings.
            Defaults to `"pad"`.
        batch_size: int. Path samples per gradient computation.
            Defaults to `4`.
        max_new_tokens: int. Length limit of a generated target.
            Defaults to `32`.

    Returns:
        A `SalienceResult` (per-token scores, word and template-part
        aggregation, HTML and terminal rendering).
    """
    _check_arguments(method, steps, baseline, batch_size)
    backbone = causal_lm.backbone
    check_backbone(backbone)
    if causal_lm.preprocessor is None:
        raise KerasAlignError("Salience needs a model with a preprocessor (for its tokenizer).")
    tokenizer = causal_lm.preprocessor.tokenizer
    template = get_template(template) if template is not None else None
    parts = prompt_parts(template, prompt, system=system)
    if target is None:
        target = _generate_target(causal_lm, "".join(p.text for p in parts), template, max_new_tokens)
    if not isinstance(target, str) or not target:
        raise KerasAlignError(f"target must be a non-empty string. Received: {target!r}")

    prompt_ids, kinds, labels = tokenize_parts(tokenizer, parts)
    target_ids = np.asarray(token_id_lists(tokenizer, [target])[0], dtype="int32")
    if not len(target_ids):
        raise KerasAlignError(f"The target {target!r} has no tokens.")
    # The start token is context, not part of the prompt a person wrote.
    token_ids = np.asarray([tokenizer.start_token_id] + prompt_ids + target_ids.tolist(), "int32")
    first_target = 1 + len(prompt_ids)
    prompt_slice = slice(1, first_target)

    target_tensor = ops.convert_to_tensor(target_ids)
    gradient_of_log_prob = _gradient_function(backbone)

    def gradient_of(x):
        return gradient_of_log_prob(x, target_tensor)

    embeddings = embed_tokens(backbone, token_ids[None])
    dtype = embeddings.dtype
    log_prob, gradients = gradient_of(embeddings)
    log_prob = float(ops.convert_to_numpy(log_prob))
    gradients = ops.convert_to_numpy(ops.cast(gradients, "float32"))[0]
    inputs = ops.convert_to_numpy(ops.cast(embeddings, "float32"))[0]
    details = {}
    if method == "grad_norm":
        scores = np.linalg.norm(gradients, axis=-1)[prompt_slice]
    elif method == "grad_x_input":
        scores = (gradients * inputs).sum(axis=-1)[prompt_slice]
    else:
        reference = inputs.copy()
        if baseline == "pad":
            pad_ids = np.full((1, first_target - 1), tokenizer.pad_token_id, "int32")
            pad_embeddings = ops.cast(embed_tokens(backbone, pad_ids), "float32")
            reference[prompt_slice] = ops.convert_to_numpy(pad_embeddings)[0]
        else:
            reference[prompt_slice] = 0.0
        scores = _integrated_gradients(
            lambda path: gradient_of(ops.cast(path, dtype)),
            inputs,
            reference,
            prompt_slice,
            steps,
            min(batch_size, steps),
        )
        baseline_log_prob, _ = gradient_of(ops.cast(ops.convert_to_tensor(reference[None]), dtype))
        baseline_log_prob = float(ops.convert_to_numpy(baseline_log_prob))
        details = {
            "steps": steps,
            "baseline": baseline,
            "baseline_log_prob": baseline_log_prob,
            "completeness_gap": float(scores.sum() - (log_prob - baseline_log_prob)),
        }
    return SalienceResult(
        tokens=token_texts(tokenizer, prompt_ids),
        token_ids=np.asarray(prompt_ids, "int32"),
        scores=np.asarray(scores, "float64"),
        kinds=kinds,
        labels=labels,
        target=target,
        method=method,
        log_prob=log_prob,
        target_tokens=token_texts(tokenizer, target_ids),
        details=details,
    )
