"""Rewards for online RLHF: a `RewardModel` or any Python callable, checked.

A reward is either an object with `score(prompts, responses)` (such as
`kerasalign.RewardModel`) or a callable `reward(prompts, responses)`; both
return one number per response. `prompts` are the prompts as given to
`fit` (strings, chat message lists or `PromptExample`s) and `responses`
the generated texts, without the end-of-turn marker. A rule-based reward,
a classifier or an external judge fits the same mould.

`score_responses` calls the reward and refuses a result of the wrong shape
or with NaN or infinite values, with a message saying which.

Examples:

>>> reward = keyword_reward("please")
>>> score_responses(reward, ["Hi", "Hi"], ["Yes, please.", "No."]).tolist()
[1.0, 0.0]
"""

import numpy as np

from kerasalign.errors import KerasAlignError


def check_reward(reward):
    """Raise `KerasAlignError` unless `reward` can score responses."""
    if hasattr(reward, "score") and callable(reward.score):
        return reward
    if callable(reward):
        return reward
    raise KerasAlignError(
        "reward must be a kerasalign.RewardModel (or any object with "
        "score(prompts, responses)) or a callable reward(prompts, responses) "
        f"returning one number per response. Received: {type(reward).__name__}"
    )


def reward_name(reward):
    """A short description of a reward for logs and metrics.json."""
    if hasattr(reward, "score") and callable(reward.score):
        return type(reward).__name__
    return getattr(reward, "__name__", type(reward).__name__)


def score_responses(reward, prompts, responses):
    """Score `responses` with `reward` and check the result.

    Args:
        reward: an object with `score(prompts, responses)` or a callable
            `(prompts, responses) -> scores`.
        prompts: list. One prompt per response.
        responses: list of str.

    Returns:
        A float32 NumPy array `(len(responses),)`.

    Raises:
        KerasAlignError: the scores are not numbers, not one per response,
            or not all finite.
    """
    scorer = reward.score if hasattr(reward, "score") and callable(reward.score) else reward
    name = reward_name(reward)
    scores = scorer(list(prompts), list(responses))
    if hasattr(scores, "numpy") and not isinstance(scores, np.ndarray):
        scores = scores.numpy()
    try:
        scores = np.asarray(scores, dtype="float32")
    except (TypeError, ValueError):
        raise KerasAlignError(
            f"The reward {name} must return numbers, one per response; it "
            f"returned {type(scores).__name__} that is not numeric."
        ) from None
    expected = (len(responses),)
    if scores.shape != expected:
        raise KerasAlignError(
            f"The reward {name} returned scores of shape {scores.shape} for "
            f"{len(responses)} responses; it must return one number per "
            f"response (shape {expected})."
        )
    bad = np.flatnonzero(~np.isfinite(scores))
    if bad.size:
        first = int(bad[0])
        raise KerasAlignError(
            f"The reward {name} returned {bad.size} non-finite score(s) (NaN or "
            f"infinite), first for response {first}: {str(responses[first])[:60]!r}."
        )
    return scores


def keyword_reward(keyword, *, case_sensitive=False):
    """A rule-based reward: 1.0 when the response contains `keyword`, else 0.

    Args:
        keyword: str. The text to look for.
        case_sensitive: bool. Defaults to `False`.

    Returns:
        A callable `(prompts, responses) -> list of float`.

    Examples:

    >>> keyword_reward("Paris")(["Capital?"], ["It is paris."])
    [1.0]
    """
    if not isinstance(keyword, str) or not keyword:
        raise KerasAlignError(f"keyword must be a non-empty string. Received: {keyword!r}")
    needle = keyword if case_sensitive else keyword.lower()

    def contains_keyword(prompts, responses):
        return [
            float(needle in (text if case_sensitive else text.lower()))
            for text in responses
        ]

    contains_keyword.__name__ = f"keyword_reward({keyword!r})"
    return contains_keyword
