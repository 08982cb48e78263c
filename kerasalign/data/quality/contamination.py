"""Remove training examples whose prompts overlap an evaluation set.

A model evaluated on prompts it was trained on looks better than it is. The
check follows the n-gram overlap test of the GPT-3 paper (Brown et al.,
2020, appendix C) and of the LM evaluation harness's decontamination tool:
a training prompt is contaminated when it shares any word 13-gram with an
evaluation prompt. Thirteen words is long enough that a shared sequence is
almost never a coincidence or a stock phrase ("can you help me with the
following"), yet short enough to catch an evaluation prompt pasted into a
longer training prompt.

An evaluation prompt with fewer than `n` words has no n-gram; for it the
whole normalised prompt takes the n-gram's place, so a training prompt is
contaminated when it contains that whole word sequence (which includes being
equal to it). The test is one-way, as in those studies: a short training
prompt that merely appears inside a long evaluation prompt is kept, because
short stock instructions ("Summarize this article.") would otherwise be
thrown out. Words are casefolded, NFKC-normalised runs of letters and digits,
so punctuation and spacing do not hide an overlap.

Examples:

>>> from kerasalign.data.schema import SFTExample
>>> train = [SFTExample(prompt="How do I kill a Python process?",
...                     response="Use kill PID."),
...          SFTExample(prompt="Name three primes.", response="2, 3, 5.")]
>>> kept, result = filter_contamination(train, ["how do I KILL a python process"])
>>> len(kept), result.removed[0].index, result.removed[0].detail
(1, 0, 'how do i kill a python process')
"""

from kerasalign.data.quality.results import FilterResult, Removal
from kerasalign.data.quality.text import as_example, user_text, words

DEFAULT_N = 13


def _eval_prompts(eval_set):
    prompts = []
    for index, item in enumerate(eval_set, start=1):
        if isinstance(item, str):
            prompts.append(item)
        elif isinstance(item, dict) and isinstance(item.get("prompt"), str):
            prompts.append(item["prompt"])
        else:
            prompts.append(user_text(as_example(item, index)))
    return prompts


def _ngrams(tokens, size):
    return (tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1))


def filter_contamination(train, eval_set, n=DEFAULT_N):
    """Remove training examples whose prompt overlaps an evaluation prompt.

    Args:
        train: list of `SFTExample`, `PreferenceExample` or dict.
        eval_set: list of str (prompts), dicts with a `prompt`, or examples.
        n: int. Length in words of the shared sequence that counts as
            overlap; evaluation prompts shorter than `n` words are matched
            whole. Defaults to `13` (see the module docstring).

    Returns:
        `(kept, result)`: the kept training examples and a `FilterResult`
        whose removals give the overlapping evaluation prompt (`partner`,
        0-based) and the shared words (`detail`).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1. Received: {n=}")
    examples = [as_example(record, i) for i, record in enumerate(train, start=1)]
    # For each n-gram length in use, the evaluation word sequences of that
    # length and the first evaluation prompt that has each.
    eval_grams = {}
    for eval_index, prompt in enumerate(_eval_prompts(eval_set)):
        tokens = words(prompt)
        if not tokens:
            continue
        size = min(n, len(tokens))
        grams = eval_grams.setdefault(size, {})
        for gram in _ngrams(tokens, size):
            grams.setdefault(gram, eval_index)
    kept_indices, removed = [], []
    for index, example in enumerate(examples):
        match = _find_overlap(words(user_text(example)), eval_grams)
        if match is None:
            kept_indices.append(index)
        else:
            gram, eval_index = match
            removed.append(
                Removal(index, "contamination", partner=eval_index, detail=gram)
            )
    result = FilterResult(
        "filter_contamination", len(examples), kept_indices, removed, {"n": n}
    )
    return [examples[i] for i in kept_indices], result


def _find_overlap(tokens, eval_grams):
    for size in sorted(eval_grams, reverse=True):
        grams = eval_grams[size]
        for gram in _ngrams(tokens, size):
            if gram in grams:
                return " ".join(gram), grams[gram]
    return None
