"""Evaluation: refusals and over-refusal, helpfulness, win rates, perplexity, reports.

Examples:

>>> from kerasalign import eval as evaluation
>>> evaluation.is_refusal("I'm sorry, but I can't help with that.")
True
>>> evaluation.compare_scores([1.0, 2.0], [0.0, 3.0]).win_rate
0.5
"""

import importlib

# Names are imported on first use: `kerasalign.data.quality` uses the refusal
# detector, and importing the report and generation modules from there would
# be circular (and would load matplotlib and KerasHub for a data tool).
_EXPORTS = {
    "kerasalign.eval.refusal": ["RefusalMatch", "find_refusal", "is_refusal"],
    "kerasalign.eval.helpfulness": [
        "AnswerAssessment",
        "AnswerThresholds",
        "assess_answer",
        "assess_answers",
    ],
    "kerasalign.eval.prompt_sets": ["load_prompt_set"],
    "kerasalign.eval.safety_result": ["ResponseRecord", "SafetyEvalResult"],
    "kerasalign.eval.safety_eval": ["evaluate_responses", "evaluate_safety", "relabel"],
    "kerasalign.eval.win_rate": [
        "WinRateResult",
        "compare_results",
        "compare_scores",
        "mean_reward",
        "pairwise_win_rate",
        "reward_summary",
        "wilson_interval",
    ],
    "kerasalign.eval.report": [
        "build_report",
        "read_report",
        "read_stage_results",
        "write_report",
    ],
}
# `kerasalign.eval.perplexity` and `kerasalign.eval.win_rate` are modules
# whose main function has the module's name, so the functions are not
# re-exported here (the name would mean the module or the function depending
# on import order): `from kerasalign.eval.win_rate import win_rate`.
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'kerasalign.eval' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
