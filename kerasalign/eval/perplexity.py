"""Perplexity of a causal language model on a text, in overlapping windows.

A text longer than the model's window is scored in windows, like Hugging
Face's "perplexity of fixed-length models" recipe. Each window holds the
start token (`<bos>`) and up to `window - 1` text tokens; window k starts at
text token `k * stride`. Every text token is scored exactly once, in the
first window that contains it, so after the first window each token is
predicted with at least `window - 1 - stride` tokens of context:
`stride = window - 1` gives disjoint windows (fastest, least context),
a smaller stride gives more context per token for more compute. Perplexity
is `exp(nll / tokens)` with `nll` the summed negative log-likelihood (nats)
of the scored tokens. With a start token every text token is scored, the
first one given `<bos>` alone; a tokenizer without a start token cannot
score the first token, which is then context only.

Log-probabilities are computed from the backbone's hidden states a chunk of
positions at a time, and only at scored positions, so that at most
`logits_rows` rows of float32 logits exist at once: a full `[batch, 512,
262144]` float32 logits tensor of Gemma 3 would take 0.5 GB per sequence.
"""

import math

import keras
import numpy as np

from kerasalign.errors import DataError
from kerasalign.trainers.logprobs import target_logprobs


def _window_spans(num_tokens, text_per_window, stride, first_scored):
    """(begin, end, scored_from) text-token spans of the successive windows."""
    spans = []
    scored_until = first_scored
    begin = 0
    while True:
        end = min(begin + text_per_window, num_tokens)
        spans.append((begin, end, scored_until))
        if end >= num_tokens:
            return spans
        scored_until = end
        begin += stride


def _tokenize(tokenizer, text):
    token_ids = keras.ops.convert_to_numpy(tokenizer(text))
    return np.asarray(token_ids, dtype="int32").reshape(-1)


def _token_log_probs(token_embedding, hidden, targets, logits_rows):
    """log p(target) for each row of `hidden`, `logits_rows` rows at a time."""
    log_probs = []
    for start in range(0, len(targets), logits_rows):
        rows = slice(start, start + logits_rows)
        logits = token_embedding(
            keras.ops.convert_to_tensor(hidden[rows]), reverse=True
        )
        logits = keras.ops.cast(logits, "float32")
        row_log_probs = target_logprobs(logits, targets[rows])
        log_probs.append(keras.ops.convert_to_numpy(row_log_probs))
        del logits
    return np.concatenate(log_probs).astype("float64")


def perplexity(
    causal_lm, text, *, window=None, stride=None, batch_size=1, logits_rows=256
):
    """Perplexity of `causal_lm` on `text`, scored in overlapping windows.

    Args:
        causal_lm: `keras_hub.models.CausalLM` with a preprocessor (its
            tokenizer splits the text; its backbone gives hidden states).
        text: str. The text to score.
        window: int. Tokens per forward pass, the start token included.
            Defaults to the preprocessor's `sequence_length`.
        stride: int. Text tokens between the starts of successive windows,
            from 1 to `window - 1`. Defaults to `window // 2`.
        batch_size: int. Windows per forward pass. Defaults to 1.
        logits_rows: int. Positions whose float32 logits are computed at
            once; bounds memory (rows x vocabulary x 4 bytes). Defaults to 256.

    Returns:
        dict with `perplexity` (float), `tokens` (int, tokens scored), `nll`
        (float, summed negative log-likelihood in nats) and `windows` (int).

    Raises:
        DataError: the text has no token to score.

    Examples:

    >>> import kerasalign
    >>> causal_lm = kerasalign.load_causal_lm("tiny_gemma3")
    >>> result = perplexity(causal_lm, "The quick brown fox.", window=8, stride=4)
    >>> sorted(result)
    ['nll', 'perplexity', 'tokens', 'windows']
    >>> bool(abs(result["perplexity"] - math.exp(result["nll"] / result["tokens"])) < 1e-6)
    True
    """
    preprocessor = causal_lm.preprocessor
    if preprocessor is None:
        raise ValueError(
            "perplexity() needs a causal_lm with a preprocessor (for its "
            "tokenizer and sequence length). Received preprocessor=None."
        )
    window = window or preprocessor.sequence_length
    if not isinstance(window, int) or window < 2:
        raise ValueError(f"window must be an integer >= 2. Received: window={window!r}")
    tokenizer = preprocessor.tokenizer
    start_token_id = getattr(tokenizer, "start_token_id", None)
    text_per_window = window - 1 if start_token_id is not None else window
    stride = stride or max(1, window // 2)
    if not isinstance(stride, int) or not 1 <= stride <= text_per_window:
        raise ValueError(
            f"stride must be an integer from 1 to {text_per_window} for "
            f"window={window}. Received: stride={stride!r}"
        )
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"batch_size must be a positive integer. Received: {batch_size!r}"
        )

    token_ids = _tokenize(tokenizer, text)
    first_scored = 0 if start_token_id is not None else 1
    if len(token_ids) <= first_scored:
        raise DataError(
            f"the text has {len(token_ids)} token(s); perplexity needs at least "
            f"{first_scored + 1}"
        )
    spans = _window_spans(len(token_ids), text_per_window, stride, first_scored)
    pad_token_id = getattr(tokenizer, "pad_token_id", None) or 0
    prefix = [start_token_id] if start_token_id is not None else []
    offset = len(prefix)
    backbone = causal_lm.backbone
    total_nll = 0.0
    total_tokens = 0
    for batch_start in range(0, len(spans), batch_size):
        batch_spans = spans[batch_start : batch_start + batch_size]
        # Pad every batch to the same shape so that compiled functions are
        # traced once; padding rows have no scored positions.
        inputs = np.full((batch_size, window), pad_token_id, dtype="int32")
        padding_mask = np.zeros((batch_size, window), dtype="int32")
        targets = np.zeros((batch_size, window), dtype="int32")
        scored = np.zeros((batch_size, window), dtype=bool)
        for row, (begin, end, scored_from) in enumerate(batch_spans):
            sequence = prefix + token_ids[begin:end].tolist()
            inputs[row, : len(sequence)] = sequence
            padding_mask[row, : len(sequence)] = 1
            # Position p predicts sequence[p + 1], text token begin + p + 1 - offset.
            targets[row, : len(sequence) - 1] = sequence[1:]
            first = scored_from - begin + offset - 1
            scored[row, first : len(sequence) - 1] = True
        hidden = backbone.predict_on_batch(
            {"token_ids": inputs, "padding_mask": padding_mask}
        )
        hidden = np.asarray(keras.ops.convert_to_numpy(hidden))
        log_probs = _token_log_probs(
            backbone.token_embedding, hidden[scored], targets[scored], logits_rows
        )
        total_nll -= float(log_probs.sum())
        total_tokens += int(scored.sum())
    return {
        "perplexity": math.exp(total_nll / total_tokens),
        "tokens": total_tokens,
        "nll": total_nll,
        "windows": len(spans),
    }
