"""Exact and near-duplicate removal.

Duplicates make a model memorise and waste training steps. `deduplicate`
removes records whose normalised text (see `normalize_text`) equals an
earlier record's; `near_duplicates` removes records whose word shingles have
a Jaccard similarity of at least `threshold` with an earlier kept record.
Candidates come from `datasketch`'s MinHash LSH and every candidate pair is
then confirmed on the exact shingle sets, so the LSH's false positives never
remove a record. The first record of each group is kept.

Examples:

>>> from kerasalign.data.schema import SFTExample
>>> records = [SFTExample(prompt="Hi!", response="Hello."),
...            SFTExample(prompt="  hi", response="HELLO"),
...            SFTExample(prompt="Bye", response="Goodbye.")]
>>> kept, result = deduplicate(records)
>>> len(kept), result.removed[0].index, result.removed[0].partner
(2, 1, 0)
"""

from datasketch import MinHash, MinHashLSH

from kerasalign.data.quality.results import FilterResult, Removal
from kerasalign.data.quality.text import (
    as_examples,
    example_text,
    normalize_text,
    prompt_text,
    response_texts,
    words,
)

ON_CHOICES = ("example", "prompt")

# MinHashLSH picks its bands to balance false positives against false
# negatives. Every candidate is checked on the exact shingle sets, so false
# positives cost only a set comparison while a false negative leaves a
# duplicate in: weight the misses heavily (about 95% recall of pairs right at
# the threshold, against about 40-60% with the default (0.5, 0.5)).
LSH_WEIGHTS = (0.05, 0.95)


def _check_on(on):
    if on not in ON_CHOICES:
        raise ValueError(f"on must be one of {list(ON_CHOICES)}. Received: {on=}")


def deduplicate(records, on="example"):
    """Remove exact duplicates after text normalisation.

    Args:
        records: list of `SFTExample`, `PreferenceExample` or dict.
        on: str. `"example"` compares the prompt and the response(s)
            (prompt + chosen + rejected for pairs); `"prompt"` the prompt
            only. Defaults to `"example"`.

    Returns:
        `(kept, result)`: the kept examples in input order and a
        `FilterResult` whose removals name the kept record (`partner`) each
        removed one duplicates.
    """
    _check_on(on)
    examples = as_examples(records)
    first_index = {}
    kept_indices, removed = [], []
    for index, example in enumerate(examples):
        key = (normalize_text(prompt_text(example)),)
        if on == "example":
            key += tuple(normalize_text(text) for text in response_texts(example))
        if key in first_index:
            removed.append(Removal(index, "duplicate", partner=first_index[key]))
        else:
            first_index[key] = index
            kept_indices.append(index)
    result = FilterResult(
        "deduplicate", len(examples), kept_indices, removed, {"on": on}
    )
    return [examples[i] for i in kept_indices], result


def shingles(text, size=3):
    """The set of word `size`-grams of a text (the whole text if shorter).

    Examples:

    >>> sorted(shingles("The cat sat on the mat", size=4))
    ['cat sat on the', 'sat on the mat', 'the cat sat on']
    """
    tokens = words(text)
    if len(tokens) <= size:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def jaccard(first, second):
    """The Jaccard similarity of two sets (1.0 for two empty sets)."""
    if not first and not second:
        return 1.0
    return len(first & second) / len(first | second)


def near_duplicates(
    records, threshold=0.8, num_perm=128, shingle_size=3, on="example", seed=1
):
    """Remove near duplicates with MinHash LSH over word shingles.

    Args:
        records: list of `SFTExample`, `PreferenceExample` or dict.
        threshold: float. Jaccard similarity of the word-shingle sets at or
            above which a record counts as a near duplicate of an earlier
            one. Defaults to `0.8`.
        num_perm: int. MinHash permutations; more is more accurate and
            slower. Defaults to `128`.
        shingle_size: int. Words per shingle. Defaults to `3`.
        on: str. `"example"` (prompt and responses) or `"prompt"`.
            Defaults to `"example"`.
        seed: int. MinHash seed. Defaults to `1`.

    Returns:
        `(kept, result)`: the kept examples and a `FilterResult` whose
        removals give the most similar kept record (`partner`) and the exact
        Jaccard similarity (`detail`).

    Examples:

    >>> from kerasalign.data.schema import SFTExample
    >>> text = "Write a short poem about the sea and the wind at night"
    >>> records = [SFTExample(prompt=text, response="Waves."),
    ...            SFTExample(prompt=text + " please", response="Waves."),
    ...            SFTExample(prompt="Sum 2 and 2", response="4")]
    >>> kept, result = near_duplicates(records, threshold=0.7)
    >>> [r.index for r in result.removed], result.removed[0].partner
    ([1], 0)
    """
    _check_on(on)
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1]. Received: {threshold=}")
    if shingle_size < 1:
        raise ValueError(f"shingle_size must be >= 1. Received: {shingle_size=}")
    examples = as_examples(records)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=LSH_WEIGHTS)
    kept_shingles = {}
    kept_indices, removed = [], []
    for index, example in enumerate(examples):
        text = example_text(example) if on == "example" else prompt_text(example)
        example_shingles = shingles(text, shingle_size)
        minhash = MinHash(num_perm=num_perm, seed=seed)
        minhash.update_batch(s.encode("utf-8") for s in example_shingles)
        best, best_similarity = None, -1.0
        for candidate in lsh.query(minhash):
            similarity = jaccard(example_shingles, kept_shingles[candidate])
            if similarity > best_similarity or (
                similarity == best_similarity and candidate < best
            ):
                best, best_similarity = candidate, similarity
        if best is not None and best_similarity >= threshold:
            removed.append(
                Removal(index, "near_duplicate", partner=best, detail=best_similarity)
            )
            continue
        lsh.insert(index, minhash)
        kept_shingles[index] = example_shingles
        kept_indices.append(index)
    parameters = {
        "threshold": threshold,
        "num_perm": num_perm,
        "shingle_size": shingle_size,
        "on": on,
    }
    result = FilterResult(
        "near_duplicates", len(examples), kept_indices, removed, parameters
    )
    return [examples[i] for i in kept_indices], result
