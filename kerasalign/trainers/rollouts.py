"""Rollouts: sample responses to prompts with KerasHub's compiled generation.

The online trainers need token ids back, not only text: which tokens were
generated (the response mask, stop token included, so the policy also
learns when to stop), whether each response ended with a stop token, and
the decoded text for the reward. `sample_responses` calls the CausalLM's
compiled `generate_function` on token ids directly. (This also avoids a
KerasHub 0.32 bug: `Gemma3CausalLM.generate` with `preprocessor=None` fails
for text-only models while converting an `"images": None` output.)

Shapes stay fixed across a run (prompts padded to one length, responses to
`max_new_tokens`), so generation is compiled once.

Examples:

>>> import kerasalign
>>> tokenizer = kerasalign.load_causal_lm("tiny_gemma").preprocessor.tokenizer
>>> token_ids, padding_mask, truncated = encode_prompts(tokenizer, ["Hi", "Hello there"])
>>> token_ids.shape == padding_mask.shape, bool(token_ids[0, 0] == tokenizer.start_token_id)
(True, True)
"""

import keras
import numpy as np

from kerasalign.data.tokenization import token_id_lists


def encode_prompts(tokenizer, texts, max_prompt_length=None):
    """Tokenize rendered prompts into right-padded ids with a start token.

    A prompt longer than `max_prompt_length` loses tokens from its start
    (after the start token): the end of a chat prompt, where the model's
    turn opens, must stay.

    Args:
        tokenizer: a KerasHub Gemma tokenizer.
        texts: list of str. Prompts already rendered with a template.
        max_prompt_length: int. Length of the padded prompts, start token
            included. Defaults to `None`: the longest prompt.

    Returns:
        `(token_ids, padding_mask, truncated)`: int32 and bool arrays
        `(len(texts), max_prompt_length)` and the number of prompts cut.
    """
    id_lists = [[tokenizer.start_token_id] + ids for ids in token_id_lists(tokenizer, texts)]
    length = max_prompt_length or max(len(ids) for ids in id_lists)
    token_ids = np.full((len(id_lists), length), tokenizer.pad_token_id, dtype="int32")
    padding_mask = np.zeros((len(id_lists), length), dtype=bool)
    truncated = 0
    for row, ids in enumerate(id_lists):
        if len(ids) > length:
            ids = ids[:1] + ids[len(ids) - length + 1 :]
            truncated += 1
        token_ids[row, : len(ids)] = ids
        padding_mask[row, : len(ids)] = True
    return token_ids, padding_mask, truncated


def sample_responses(causal_lm, token_ids, padding_mask, *, max_new_tokens, stop_token_ids):
    """Generate up to `max_new_tokens` after each prompt.

    Uses the sampler set with `causal_lm.compile(sampler=...)`.

    Args:
        causal_lm: `keras_hub.models.CausalLM`.
        token_ids: int array `(batch, prompt_length)`, right-padded.
        padding_mask: bool array `(batch, prompt_length)`.
        max_new_tokens: int. Response length limit.
        stop_token_ids: tuple of int. Tokens that end a response.

    Returns:
        A dict of NumPy arrays: `token_ids` and `padding_mask`
        `(batch, prompt_length + max_new_tokens)` (prompt and response;
        tokens after a stop token are padding), `response_mask` (1 on the
        generated tokens, the stop token included) and `ended` `(batch,)`
        (whether the response ended with a stop token).
    """
    batch_size, prompt_length = token_ids.shape
    total_length = prompt_length + max_new_tokens
    inputs = {
        "token_ids": np.zeros((batch_size, total_length), dtype="int32"),
        "padding_mask": np.zeros((batch_size, total_length), dtype=bool),
    }
    inputs["token_ids"][:, :prompt_length] = token_ids
    inputs["padding_mask"][:, :prompt_length] = padding_mask
    generate_function = causal_lm.make_generate_function()
    outputs = generate_function(inputs, stop_token_ids=tuple(stop_token_ids))
    sequences = np.asarray(keras.ops.convert_to_numpy(outputs["token_ids"]), dtype="int32")
    kept = np.asarray(keras.ops.convert_to_numpy(outputs["padding_mask"]), dtype=bool)
    # Generation runs until the longest prompt has `max_new_tokens`, so
    # shorter prompts got more: keep only their first `max_new_tokens`.
    prompt_lengths = padding_mask.sum(axis=1, keepdims=True)
    positions = np.arange(total_length)[None, :]
    kept &= positions < prompt_lengths + max_new_tokens
    response_mask = kept & ~inputs["padding_mask"]
    sequences = np.where(kept, sequences, 0).astype("int32")
    is_stop = np.isin(sequences, np.asarray(stop_token_ids)) & response_mask
    return {
        "token_ids": sequences,
        "padding_mask": kept,
        "response_mask": response_mask,
        "ended": is_stop.any(axis=1),
    }


def decode_responses(tokenizer, token_ids, response_mask, stop_token_ids):
    """The text of each response, without its stop token.

    Args:
        tokenizer: a KerasHub tokenizer.
        token_ids: int array `(batch, length)`.
        response_mask: bool array `(batch, length)`.
        stop_token_ids: tuple of int.

    Returns:
        A list of str.
    """
    stops = set(int(token) for token in stop_token_ids)
    id_lists = [
        [int(token) for token in row[mask] if int(token) not in stops]
        for row, mask in zip(token_ids, response_mask, strict=True)
    ]
    texts = tokenizer.detokenize(id_lists)
    if hasattr(texts, "numpy"):
        texts = texts.numpy()
    return [text.decode("utf-8") if isinstance(text, bytes) else str(text) for text in texts]
