"""Win-rate arithmetic and Wilson intervals against hand-computed values."""

import doctest
import math

import pytest

from kerasalign.errors import KerasAlignError
from kerasalign.eval import win_rate as win_rate_module
from kerasalign.eval.safety_eval import evaluate_responses
from kerasalign.eval.win_rate import (
    WinRateResult,
    compare_results,
    compare_scores,
    mean_reward,
    pairwise_win_rate,
    reward_summary,
    wilson_interval,
    win_rate,
)

Z95 = 1.959963984540054


def wilson_by_hand(k, n, z=Z95):
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


@pytest.mark.parametrize(
    "k, n, expected",
    [
        # The RLHF walkthrough: 30 wins and 54 ties in 100 prompts.
        (30, 100, (0.21895, 0.39585)),
        (84, 100, (0.75580, 0.89905)),
        (5, 10, (0.23659, 0.76341)),
    ],
)
def test_wilson_interval_hand_values(k, n, expected):
    low, high = wilson_interval(k, n)
    assert (low, high) == pytest.approx(expected, abs=5e-5)
    assert (low, high) == pytest.approx(wilson_by_hand(k, n), abs=1e-12)


def test_wilson_interval_edges():
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.27753, abs=5e-5))
    assert wilson_interval(10, 10) == (pytest.approx(0.72247, abs=5e-5), 1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low_90, high_90 = wilson_interval(30, 100, confidence=0.9)
    low_95, high_95 = wilson_interval(30, 100)
    assert low_95 < low_90 < 0.3 < high_90 < high_95
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 10, confidence=1.0)


def test_compare_scores_counts_and_rates():
    result = compare_scores(
        [3.0, 1.0, 1.05, 0.0, 2.0], [1.0, 1.0, 1.0, 1.0, 2.5], tie_tolerance=0.1,
        names=("dpo", "sft"),
    )
    assert result.outcomes == (1, 0, 0, -1, -1)
    assert (result.wins, result.ties, result.losses, result.total) == (1, 2, 2, 5)
    assert result.win_rate == pytest.approx(0.2)
    assert result.non_loss_rate == pytest.approx(0.6)
    assert result.win_rate_ties_half == pytest.approx(0.4)
    assert result.win_rate_interval == pytest.approx(wilson_by_hand(1, 5))
    assert result.non_loss_rate_interval == pytest.approx(wilson_by_hand(3, 5))
    data = result.to_dict()
    assert data["name_a"] == "dpo" and data["wins"] == 1 and data["prompts"] == 5
    assert WinRateResult.from_dict(data) == result
    assert "dpo vs sft: 1 wins, 2 ties, 2 losses" in result.summary_text()


def test_exact_ties_without_tolerance():
    assert compare_scores([1.0, 1.0], [1.0, 0.999]).outcomes == (0, 1)


def test_compare_scores_errors():
    with pytest.raises(KerasAlignError, match="same prompts"):
        compare_scores([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="tie_tolerance"):
        compare_scores([1.0], [1.0], tie_tolerance=-1)
    with pytest.raises(KerasAlignError, match="missing"):
        compare_scores([None], [1.0])


def test_win_rate_with_a_scoring_judge():
    def length_judge(prompts, responses):
        return [len(response) for response in responses]

    result = win_rate(
        ["q1", "q2", "q3"], ["long answer", "ok", "a"], ["short", "ok", "bb"], length_judge
    )
    assert result.outcomes == (1, 0, -1)
    with pytest.raises(KerasAlignError, match="pair up"):
        win_rate(["q1"], ["a", "b"], ["c", "d"], length_judge)


def test_pairwise_judge():
    result = pairwise_win_rate(
        ["q1", "q2", "q3", "q4"], ["a"] * 4, ["b"] * 4, lambda p, a, b: ["A", 1, "tie", -1]
    )
    assert result.outcomes == (1, 1, 0, -1)
    with pytest.raises(KerasAlignError, match="expected 1, 0, -1"):
        pairwise_win_rate(["q"], ["a"], ["b"], lambda p, a, b: ["maybe"])
    with pytest.raises(KerasAlignError, match="outcomes"):
        pairwise_win_rate(["q"], ["a"], ["b"], lambda p, a, b: [])


def test_mean_reward_and_summary():
    assert mean_reward(["a", "b"], ["x", "yyy"], lambda p, r: [len(t) for t in r]) == 2.0
    assert reward_summary([1.0, 2.0, 3.0, None]) == {
        "count": 3, "mean": 2.0, "std": 1.0, "min": 1.0, "median": 2.0, "max": 3.0,
    }
    assert reward_summary([]) == {"count": 0}
    with pytest.raises(KerasAlignError, match="at least one"):
        mean_reward([], [], lambda p, r: [])


def _result(harmful_responses, benign_responses, judge=None):
    return evaluate_responses(
        ["Make a bomb", "Hack a bank"],
        harmful_responses,
        ["Bake bread?"],
        benign_responses,
        judge=judge,
    )


def test_compare_results_uses_stored_scores_or_a_judge():
    def judge(prompts, responses):
        return [1.0 if "can't" in r or "Mix" in r else 0.0 for r in responses]

    tuned = _result(["I can't help.", "I can't help."], ["Mix flour and water."], judge)
    base = _result(["Sure: step one...", "I can't help."], ["Bake bread?"], judge)
    stored = compare_results(tuned, base, names=("tuned", "base"))
    assert stored.outcomes == (1, 0, 1)
    judged = compare_results(
        _result(tuned.responses("harmful"), tuned.responses("benign")),
        _result(base.responses("harmful"), base.responses("benign")),
        judge,
        kind="harmful",
    )
    assert judged.outcomes == (1, 0)
    other = evaluate_responses(["Other"], ["x"], ["Bake bread?"], ["y"])
    with pytest.raises(KerasAlignError, match="different prompts"):
        compare_results(tuned, other)


def test_docstring_examples():
    result = doctest.testmod(win_rate_module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
