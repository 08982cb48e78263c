"""Win rate of model A against model B, and mean reward, under a judge.

Each prompt is a win for A, a tie or a loss. With a scoring judge (a
`RewardModel`, or any `(prompts, responses) -> scores`), A wins when its
score beats B's by more than `tie_tolerance`, loses when B's beats A's by
more, and ties otherwise. With a pairwise judge (an LLM asked "which answer
is better?"), the judge returns the outcome itself.

Reported, over `n = wins + ties + losses` prompts:

- `win_rate = wins / n`, with a Wilson score interval;
- `non_loss_rate = (wins + ties) / n` ("preferred or tied"), with a Wilson
  interval;
- `win_rate_ties_half = (wins + ties / 2) / n`, the usual single number
  when ties count half.

The Wilson interval for `k` successes in `n` trials at confidence `1 - a`,
with `z` the `1 - a/2` normal quantile, is
`(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)`, `p = k/n`; unlike
the normal approximation it stays inside [0, 1] and is sensible for small
`n` and for rates near 0 or 1.

Examples:

>>> result = compare_scores([2.0, 1.0, 0.5, 0.0], [1.0, 1.0, 1.0, -1.0])
>>> result.wins, result.ties, result.losses, result.win_rate
(2, 1, 1, 0.5)
>>> [round(bound, 4) for bound in wilson_interval(30, 100)]
[0.2189, 0.3958]
"""

import dataclasses
import math
import statistics

from kerasalign.errors import KerasAlignError
from kerasalign.eval.judges import judge_scores

PAIRWISE_OUTCOMES = {1: 1, 0: 0, -1: -1, "a": 1, "tie": 0, "b": -1}


def wilson_interval(successes, total, confidence=0.95):
    """Wilson score interval of a binomial proportion.

    Args:
        successes: int. Number of successes.
        total: int. Number of trials.
        confidence: float. Coverage of the interval. Defaults to `0.95`.

    Returns:
        `(low, high)`; `(0.0, 1.0)` when `total` is 0.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1). Received: {confidence!r}")
    if not 0 <= successes <= total:
        raise ValueError(f"need 0 <= successes <= total. Received: {successes}, {total}")
    if total == 0:
        return (0.0, 1.0)
    z = statistics.NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half_width = (
        z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    )
    low = 0.0 if successes == 0 else max(0.0, centre - half_width)
    high = 1.0 if successes == total else min(1.0, centre + half_width)
    return (low, high)


@dataclasses.dataclass(frozen=True)
class WinRateResult:
    """Wins, ties and losses of A against B, with rates and intervals.

    Args:
        outcomes: tuple of int. Per prompt: 1 (A wins), 0 (tie), -1 (B wins).
        name_a: str. Name of A. Defaults to `"a"`.
        name_b: str. Name of B. Defaults to `"b"`.
        confidence: float. Coverage of the intervals. Defaults to `0.95`.
        tie_tolerance: float. Score difference counted as a tie (scoring
            judges only). Defaults to `0.0`.
    """

    outcomes: tuple
    name_a: str = "a"
    name_b: str = "b"
    confidence: float = 0.95
    tie_tolerance: float = 0.0

    @property
    def wins(self):
        return sum(outcome == 1 for outcome in self.outcomes)

    @property
    def ties(self):
        return sum(outcome == 0 for outcome in self.outcomes)

    @property
    def losses(self):
        return sum(outcome == -1 for outcome in self.outcomes)

    @property
    def total(self):
        return len(self.outcomes)

    def _rate(self, count):
        return count / self.total if self.total else None

    @property
    def win_rate(self):
        """Wins / prompts."""
        return self._rate(self.wins)

    @property
    def non_loss_rate(self):
        """(Wins + ties) / prompts."""
        return self._rate(self.wins + self.ties)

    @property
    def win_rate_ties_half(self):
        """(Wins + ties / 2) / prompts."""
        return self._rate(self.wins + self.ties / 2)

    @property
    def win_rate_interval(self):
        """Wilson interval of `win_rate`."""
        return wilson_interval(self.wins, self.total, self.confidence)

    @property
    def non_loss_rate_interval(self):
        """Wilson interval of `non_loss_rate`."""
        return wilson_interval(self.wins + self.ties, self.total, self.confidence)

    def to_dict(self):
        """Counts, rates and intervals as a JSON-ready dict."""

        def rounded(value):
            return None if value is None else round(value, 4)

        return {
            "name_a": self.name_a,
            "name_b": self.name_b,
            "prompts": self.total,
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
            "win_rate": rounded(self.win_rate),
            "win_rate_interval": [rounded(v) for v in self.win_rate_interval],
            "non_loss_rate": rounded(self.non_loss_rate),
            "non_loss_rate_interval": [rounded(v) for v in self.non_loss_rate_interval],
            "win_rate_ties_half": rounded(self.win_rate_ties_half),
            "confidence": self.confidence,
            "tie_tolerance": self.tie_tolerance,
            "outcomes": list(self.outcomes),
        }

    @classmethod
    def from_dict(cls, data):
        """Rebuild a result from `to_dict()` output."""
        return cls(
            outcomes=tuple(data["outcomes"]),
            name_a=data.get("name_a", "a"),
            name_b=data.get("name_b", "b"),
            confidence=data.get("confidence", 0.95),
            tie_tolerance=data.get("tie_tolerance", 0.0),
        )

    def summary_text(self):
        """One readable line."""
        low, high = self.win_rate_interval
        return (
            f"{self.name_a} vs {self.name_b}: {self.wins} wins, {self.ties} ties, "
            f"{self.losses} losses over {self.total} prompts; win rate "
            f"{self.win_rate:.0%} ({self.confidence:.0%} CI {low:.0%}-{high:.0%})"
            if self.total
            else f"{self.name_a} vs {self.name_b}: no prompts"
        )


def compare_scores(
    scores_a, scores_b, *, tie_tolerance=0.0, confidence=0.95, names=("a", "b")
):
    """Win rate of A over B from per-prompt scores (higher is better).

    Args:
        scores_a: list of float. A's score on each prompt.
        scores_b: list of float. B's score on the same prompts.
        tie_tolerance: float. `|a - b| <= tie_tolerance` is a tie.
            Defaults to `0.0`.
        confidence: float. Coverage of the intervals. Defaults to `0.95`.
        names: tuple of 2 str. Names of A and B. Defaults to `("a", "b")`.

    Returns:
        A `WinRateResult`.
    """
    scores_a, scores_b = list(scores_a), list(scores_b)
    if len(scores_a) != len(scores_b):
        raise KerasAlignError(
            f"got {len(scores_a)} scores for {names[0]} and {len(scores_b)} for "
            f"{names[1]}; they must score the same prompts"
        )
    if tie_tolerance < 0:
        raise ValueError(f"tie_tolerance must be >= 0. Received: {tie_tolerance!r}")
    if any(score is None for score in scores_a + scores_b):
        raise KerasAlignError("a score is missing (None); was a judge given?")
    outcomes = tuple(
        0 if abs(a - b) <= tie_tolerance else (1 if a > b else -1)
        for a, b in zip(scores_a, scores_b, strict=True)
    )
    return WinRateResult(
        outcomes, names[0], names[1], confidence=confidence, tie_tolerance=tie_tolerance
    )


def _check_responses(prompts, responses_a, responses_b):
    if not len(prompts) == len(responses_a) == len(responses_b):
        raise KerasAlignError(
            f"got {len(prompts)} prompts, {len(responses_a)} responses of A and "
            f"{len(responses_b)} of B; they must pair up one to one"
        )


def win_rate(
    prompts,
    responses_a,
    responses_b,
    judge,
    *,
    tie_tolerance=0.0,
    confidence=0.95,
    names=("a", "b"),
):
    """Win rate of A's responses over B's on the same prompts, by a scoring judge.

    Args:
        prompts: list of str.
        responses_a: list of str. A's response to each prompt.
        responses_b: list of str. B's response to each prompt.
        judge: callable `(prompts, responses) -> scores`, or an object with
            such a `score` method (a `RewardModel`).
        tie_tolerance: float. Defaults to `0.0`.
        confidence: float. Defaults to `0.95`.
        names: tuple of 2 str. Defaults to `("a", "b")`.

    Returns:
        A `WinRateResult`.

    Examples:

    >>> def length_judge(prompts, responses):
    ...     return [len(response) for response in responses]
    >>> win_rate(["q1", "q2"], ["long answer", "ok"], ["short", "ok"],
    ...          length_judge).to_dict()["wins"]
    1
    """
    _check_responses(prompts, responses_a, responses_b)
    scores_a, _ = judge_scores(judge, prompts, responses_a)
    scores_b, _ = judge_scores(judge, prompts, responses_b)
    return compare_scores(
        scores_a, scores_b, tie_tolerance=tie_tolerance, confidence=confidence, names=names
    )


def pairwise_win_rate(
    prompts, responses_a, responses_b, compare, *, confidence=0.95, names=("a", "b")
):
    """Win rate of A over B by a judge that compares two responses itself.

    Args:
        prompts: list of str.
        responses_a: list of str.
        responses_b: list of str.
        compare: callable `(prompts, responses_a, responses_b) -> outcomes`,
            each 1 / `"a"` (A better), 0 / `"tie"`, or -1 / `"b"`.
        confidence: float. Defaults to `0.95`.
        names: tuple of 2 str. Defaults to `("a", "b")`.

    Returns:
        A `WinRateResult`.
    """
    _check_responses(prompts, responses_a, responses_b)
    raw = list(compare(list(prompts), list(responses_a), list(responses_b)))
    if len(raw) != len(prompts):
        raise KerasAlignError(
            f"the judge returned {len(raw)} outcomes for {len(prompts)} prompts"
        )
    outcomes = []
    for index, value in enumerate(raw):
        key = value.lower() if isinstance(value, str) else value
        if key not in PAIRWISE_OUTCOMES or isinstance(key, bool):
            raise KerasAlignError(
                f"the judge returned {value!r} for prompt {index}; expected 1, 0, "
                "-1, 'a', 'tie' or 'b'"
            )
        outcomes.append(PAIRWISE_OUTCOMES[key])
    return WinRateResult(tuple(outcomes), names[0], names[1], confidence=confidence)


def reward_summary(scores):
    """Mean, standard deviation, min, median and max of scores.

    Examples:

    >>> reward_summary([1.0, 2.0, 3.0])
    {'count': 3, 'mean': 2.0, 'std': 1.0, 'min': 1.0, 'median': 2.0, 'max': 3.0}
    """
    scores = [float(score) for score in scores if score is not None]
    if not scores:
        return {"count": 0}
    return {
        "count": len(scores),
        "mean": round(statistics.fmean(scores), 4),
        "std": round(statistics.stdev(scores), 4) if len(scores) > 1 else 0.0,
        "min": round(min(scores), 4),
        "median": round(statistics.median(scores), 4),
        "max": round(max(scores), 4),
    }


def mean_reward(prompts, responses, judge):
    """Mean score of responses under a judge (a `RewardModel` or a callable).

    Args:
        prompts: list of str.
        responses: list of str, one per prompt.
        judge: callable `(prompts, responses) -> scores`, or an object with
            such a `score` method.

    Returns:
        float.

    Examples:

    >>> mean_reward(["a", "b"], ["x", "yyy"], lambda p, r: [len(t) for t in r])
    2.0
    """
    if len(prompts) != len(responses) or not prompts:
        raise KerasAlignError(
            f"need as many responses as prompts, at least one. Received: "
            f"{len(prompts)} prompts, {len(responses)} responses"
        )
    scores, _ = judge_scores(judge, prompts, responses)
    return statistics.fmean(scores)


def compare_results(
    result_a,
    result_b,
    judge=None,
    *,
    kind=None,
    tie_tolerance=0.0,
    confidence=0.95,
    names=("a", "b"),
):
    """Win rate between two `SafetyEvalResult`s on the same prompts.

    Args:
        result_a: `SafetyEvalResult` of model A.
        result_b: `SafetyEvalResult` of model B, on the same prompts.
        judge: callable or object with `score`. Scores both sets of
            responses; `None` uses the judge scores stored on the records
            (from `evaluate_safety(judge=...)`). Defaults to `None`.
        kind: str. `"harmful"`, `"benign"` or `None` (both). Defaults to
            `None`.
        tie_tolerance: float. Defaults to `0.0`.
        confidence: float. Defaults to `0.95`.
        names: tuple of 2 str. Defaults to `("a", "b")`.

    Returns:
        A `WinRateResult`.
    """
    prompts = result_a.prompts(kind)
    if prompts != result_b.prompts(kind):
        raise KerasAlignError(
            f"{names[0]} and {names[1]} were evaluated on different prompts; a "
            "win rate needs the same prompts in the same order"
        )
    if judge is None:
        return compare_scores(
            result_a.judge_scores(kind),
            result_b.judge_scores(kind),
            tie_tolerance=tie_tolerance,
            confidence=confidence,
            names=names,
        )
    return win_rate(
        prompts,
        result_a.responses(kind),
        result_b.responses(kind),
        judge,
        tie_tolerance=tie_tolerance,
        confidence=confidence,
        names=names,
    )
