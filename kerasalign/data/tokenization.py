"""Tokenize template segments into ids with a per-token loss mask.

Shared by the SFT and preference preprocessors: each segment (prompt text or
response text) is tokenized on its own and the pieces are concatenated, so
every token knows whether it belongs to the response. Gemma's tokenizer adds
no dummy prefix, so this gives the same tokens as tokenizing the joined text
except, rarely, at a segment boundary.

Examples:

>>> import kerasalign
>>> tokenizer = kerasalign.load_causal_lm("tiny_gemma").preprocessor.tokenizer
>>> from kerasalign.templates import Segment
>>> ids, targets = tokenize_segments(tokenizer, [Segment("Hi ", False), Segment("there", True)])
>>> bool(ids[0] == tokenizer.start_token_id), bool(targets[0]), bool(targets[-1])
(True, False, True)
"""

import numpy as np


def token_id_lists(tokenizer, texts):
    """Tokenize a list of strings into a list of Python int lists.

    Works whatever the tokenizer returns on the current backend (lists,
    NumPy arrays or ragged TensorFlow tensors).
    """
    if not texts:
        return []
    output = tokenizer.tokenize(list(texts))
    if hasattr(output, "to_list"):
        output = output.to_list()
    return [[int(token) for token in np.asarray(ids).reshape(-1)] for ids in output]


def tokenize_segments(tokenizer, segments, *, add_bos=True, add_eos=False):
    """Tokenize segments into ids and a boolean target mask.

    Args:
        tokenizer: a KerasHub tokenizer with `start_token_id`/`end_token_id`.
        segments: list of `Segment`.
        add_bos: bool. Prepend the start token (not a target).
            Defaults to `True`.
        add_eos: bool. Append the end token as a target (formats whose
            response ends with end-of-sequence). Defaults to `False`.

    Returns:
        `(ids, is_target)`: two NumPy arrays of equal length.
    """
    pieces = token_id_lists(tokenizer, [segment.text for segment in segments])
    ids, is_target = [], []
    if add_bos:
        ids.append(tokenizer.start_token_id)
        is_target.append(False)
    for segment, piece in zip(segments, pieces, strict=True):
        ids.extend(piece)
        is_target.extend([segment.is_target] * len(piece))
    if add_eos:
        ids.append(tokenizer.end_token_id)
        is_target.append(True)
    return np.asarray(ids, dtype="int32"), np.asarray(is_target, dtype=bool)


def truncate_keeping_response(ids, is_target, max_tokens, min_prompt_tokens):
    """Shorten a sequence to `max_tokens`, cutting the prompt first.

    Prompt tokens are removed from the left (after the start token), keeping
    at least `min_prompt_tokens` of the prompt that precedes the first
    response token; if that is not enough, the end of the sequence is cut.

    Returns:
        `(ids, is_target, prompt_cut, response_cut)` where the last two are
        booleans saying what was removed.

    Examples:

    >>> ids = np.arange(10); tgt = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1], bool)
    >>> out, mask, prompt_cut, response_cut = truncate_keeping_response(ids, tgt, 7, 2)
    >>> out.tolist(), prompt_cut, response_cut
    ([0, 4, 5, 6, 7, 8, 9], True, False)
    """
    excess = len(ids) - max_tokens
    if excess <= 0:
        return ids, is_target, False, False
    target_positions = np.flatnonzero(is_target)
    first_target = int(target_positions[0]) if len(target_positions) else len(ids)
    has_start = 1 if first_target > 0 else 0
    prompt_length = first_target - has_start
    removable = max(0, prompt_length - min(min_prompt_tokens, prompt_length))
    cut = min(excess, removable)
    prompt_cut = cut > 0
    if prompt_cut:
        keep = np.ones(len(ids), dtype=bool)
        keep[has_start : has_start + cut] = False
        ids, is_target = ids[keep], is_target[keep]
    response_cut = len(ids) > max_tokens
    if response_cut:
        ids, is_target = ids[:max_tokens], is_target[:max_tokens]
    return ids, is_target, prompt_cut, response_cut


def padded_length(lengths, sequence_length, multiple=8):
    """The length to pad a dataset to: its longest row rounded up, capped.

    One fixed length per dataset keeps compiled training steps from being
    retraced, without padding short data to the model's full length.

    Examples:

    >>> padded_length([5, 13], 256)
    16
    """
    longest = max(lengths) if lengths else 1
    rounded = -(-longest // multiple) * multiple
    return int(min(rounded, sequence_length))
