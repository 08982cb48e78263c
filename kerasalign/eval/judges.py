"""Call a judge or scorer and check what it returns.

A judge is anything that rates responses: a callable
`(prompts, responses) -> scores` or an object with such a `score` method (a
`kerasalign.RewardModel`). It may return booleans (a classifier or an LLM
asked "is this a good answer?") or numbers (a reward model), as a list, a
NumPy array or a backend tensor. Prompts and responses are lists of strings.

Examples:

>>> judge_scores(lambda p, r: [0.5, -1.0], ["a", "b"], ["x", "y"], threshold=0.0)
([0.5, -1.0], [True, False])
>>> judge_scores(lambda p, r: [True, False], ["a", "b"], ["x", "y"])
([1.0, 0.0], [True, False])
"""

import math

import keras
import numpy as np

from kerasalign.errors import KerasAlignError


def resolve_judge(judge):
    """The scoring callable of a judge (its `score` method when it has one)."""
    score = getattr(judge, "score", None)
    if callable(score):
        return score
    if callable(judge):
        return judge
    raise TypeError(
        "a judge must be a callable (prompts, responses) -> scores, or an object "
        f"with a score(prompts, responses) method. Received: {type(judge).__name__}"
    )


def _to_numpy(values):
    if isinstance(values, (list, tuple)):
        return np.asarray([np.asarray(keras.ops.convert_to_numpy(v)) for v in values])
    return np.asarray(keras.ops.convert_to_numpy(values))


def judge_scores(judge, prompts, responses, *, threshold=None):
    """Scores of a judge on responses, and whether each passes.

    Args:
        judge: callable or object with `score` (see the module docstring).
        prompts: list of str.
        responses: list of str, one per prompt.
        threshold: float. A numeric score passes when it is at least this;
            `None` passes every numeric score (the scores are only
            recorded). Booleans pass when true. Defaults to `None`.

    Returns:
        `(scores, passed)`: a list of float (booleans as 1.0 / 0.0) and a
        list of bool.

    Raises:
        KerasAlignError: the judge returned the wrong number of scores, or a
            score that is not a finite number.
    """
    score = resolve_judge(judge)
    raw = _to_numpy(score(list(prompts), list(responses)))
    if raw.ndim == 2 and raw.shape[-1] == 1:
        raw = raw[:, 0]
    if raw.ndim != 1 or len(raw) != len(responses):
        raise KerasAlignError(
            f"the judge returned {raw.shape} scores for {len(responses)} responses; "
            "it must return one score (or boolean) per response"
        )
    if raw.dtype == bool:
        passed = [bool(value) for value in raw]
        return [float(value) for value in raw], passed
    try:
        scores = [float(value) for value in raw]
    except (TypeError, ValueError) as error:
        raise KerasAlignError(f"the judge returned non-numeric scores: {error}") from error
    bad = [i for i, value in enumerate(scores) if not math.isfinite(value)]
    if bad:
        raise KerasAlignError(
            f"the judge returned a non-finite score for response {bad[0]}: {scores[bad[0]]}"
        )
    return scores, [threshold is None or value >= threshold for value in scores]
