"""The evaluation report: `report.json`, `report.md` and PNG plots.

A report compares one or more *stages* (for `kerasalign align`: the base
model, the SFT model and the preference-tuned model) evaluated on the same
prompts. It holds:

- `report.json`: every number: per stage the overall, per-policy and
  per-category rates, every response with its labels, the judge-score
  statistics, the win rates, each stage's training history and any extra
  per-stage numbers (`stage_info`: wall time, perplexity, ...);
- `report.md`: the tables a person reads: a summary comparing the stages
  side by side, win rates, per-policy and per-category tables, training
  results, the plots, and a sample of responses of every stage to the same
  prompts;
- PNG plots: `outcomes.png` (refused / complied / helpful ... per stage),
  `policy_rates.png` (refusal and helpful rates per policy and stage),
  `score_distribution.png` (judge scores, when there are any) and
  `training_<stage>.png` (curves of each trained stage).

The directory is written atomically: into a temporary directory renamed
into place at the end, replacing a previous report there, so it is either
complete or absent. Give the report its own directory (e.g. `<run>/report`).

Examples:

>>> import pathlib, tempfile
>>> from kerasalign.eval.safety_eval import evaluate_responses
>>> base = evaluate_responses(["Make a bomb"], ["Make a bomb Make a bomb"],
...                           ["Bake bread?"], ["Bake bread? Bake bread?"])
>>> tuned = evaluate_responses(["Make a bomb"], ["I can't help with that."],
...                            ["Bake bread?"], ["Mix flour, water and yeast, then bake."])
>>> directory = pathlib.Path(tempfile.mkdtemp()) / "report"
>>> report = write_report(directory, {"base": base, "tuned": tuned})
>>> report["summary"]["tuned"]["refusal_rate"], sorted(report["files"])[:2]
(1.0, ['outcomes.png', 'policy_rates.png'])
>>> read_stage_results(directory)["tuned"].summary()["helpful_rate"]
1.0
"""

import datetime
import json
import os
import pathlib
import re

from kerasalign.errors import KerasAlignError
from kerasalign.eval.report_markdown import render_markdown
from kerasalign.eval.report_plots import (
    plot_outcomes,
    plot_policy_rates,
    plot_score_distribution,
)
from kerasalign.eval.safety_result import BENIGN, HARMFUL, SafetyEvalResult
from kerasalign.eval.win_rate import WinRateResult, reward_summary
from kerasalign.trainers.metrics_recorder import write_json
from kerasalign.trainers.output_dir import staged_output_dir
from kerasalign.trainers.plots import plot_training_curves

DEFAULT_TITLE = "kerasalign evaluation report"
REPORT_JSON = "report.json"
REPORT_MARKDOWN = "report.md"


def _stage_results(stages):
    pairs = list(stages.items()) if isinstance(stages, dict) else list(stages)
    if not pairs:
        raise KerasAlignError("a report needs at least one stage")
    results = {}
    for name, result in pairs:
        if not isinstance(name, str) or not name.strip():
            raise KerasAlignError(f"stage names must be non-empty strings. Received: {name!r}")
        if name in results:
            raise KerasAlignError(f"stage {name!r} is given twice")
        if isinstance(result, dict):
            result = SafetyEvalResult.from_dict(result)
        if not isinstance(result, SafetyEvalResult):
            raise TypeError(
                f"stage {name!r}: expected a SafetyEvalResult, got {type(result).__name__}"
            )
        results[name] = result
    return results


def _file_stem(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "stage"


def _history(source):
    """A `{"steps", "epochs"}` history from a dict, metrics.json or its folder."""
    if isinstance(source, (str, os.PathLike)):
        path = pathlib.Path(source)
        if path.is_dir():
            path = path / "metrics.json"
        try:
            source = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as error:
            raise KerasAlignError(f"{path}: no metrics.json to read") from error
        except json.JSONDecodeError as error:
            raise KerasAlignError(f"{path}: not valid JSON ({error})") from error
    if isinstance(source, dict) and "history" in source:
        source = source["history"]
    if not isinstance(source, dict) or not {"steps", "epochs"} <= set(source):
        raise KerasAlignError(
            "a training history must be a dict with 'steps' and 'epochs' (or "
            "metrics.json, or the directory holding it)"
        )
    return {"steps": list(source["steps"]), "epochs": list(source["epochs"])}


def _comparison(comparison):
    if isinstance(comparison, WinRateResult):
        return comparison.to_dict()
    if isinstance(comparison, dict) and "outcomes" in comparison:
        return WinRateResult.from_dict(comparison).to_dict()
    raise TypeError(
        f"a comparison must be a WinRateResult (or its to_dict()). Received: "
        f"{type(comparison).__name__}"
    )


def _samples(results, samples_per_kind):
    stages = list(results)
    first = results[stages[0]]
    samples = []
    for kind in (HARMFUL, BENIGN):
        shared = [
            record
            for record in first.select(kind)
            if all(record.prompt in results[s].prompts(kind) for s in stages[1:])
        ]
        if not shared or samples_per_kind < 1:
            continue
        count = min(samples_per_kind, len(shared))
        for index in range(count):
            record = shared[index * len(shared) // count]
            responses = {}
            for stage in stages:
                match = next(r for r in results[stage].select(kind) if r.prompt == record.prompt)
                responses[stage] = {"outcome": match.outcome, "response": match.response}
            samples.append(
                {
                    "kind": kind,
                    "prompt": record.prompt,
                    "policy": record.policy,
                    "responses": responses,
                }
            )
    return samples


def _rewards(results):
    rewards = {}
    for stage, result in results.items():
        kinds = {
            kind: reward_summary(result.judge_scores(kind))
            for kind in (HARMFUL, BENIGN)
            if any(score is not None for score in result.judge_scores(kind))
        }
        if kinds:
            rewards[stage] = kinds
    return rewards


def build_report(
    stages,
    *,
    comparisons=None,
    histories=None,
    stage_info=None,
    title=DEFAULT_TITLE,
    metadata=None,
    samples_per_kind=3,
):
    """The report as a JSON-ready dict (no files written).

    Args:
        stages: dict (ordered) or list of `(name, result)`. Stage name ->
            `SafetyEvalResult` (or its `to_dict()`), in the order to show.
        comparisons: list of `WinRateResult`. Defaults to `None`.
        histories: dict. Stage name -> training history (`{"steps",
            "epochs"}`), the content of a `metrics.json`, or the path of a
            `metrics.json` or of the directory holding it. Defaults to `None`.
        stage_info: dict. Stage name -> dict of extra numbers shown as
            columns of the summary table (`wall_seconds`, `perplexity`, ...).
            Defaults to `None`.
        title: str. Defaults to `"kerasalign evaluation report"`.
        metadata: dict. Shown at the top (preset, backend, command ...).
            Defaults to `None`.
        samples_per_kind: int. Harmful and benign prompts whose responses are
            shown for every stage. Defaults to `3`.

    Returns:
        dict.
    """
    results = _stage_results(stages)
    stage_info = dict(stage_info or {})
    histories = {name: _history(source) for name, source in (histories or {}).items()}
    unknown = (set(stage_info) | set(histories)) - set(results)
    if unknown:
        raise KerasAlignError(
            f"stage_info or histories name unknown stage(s) {sorted(unknown)}; "
            f"the stages are {list(results)}"
        )
    training = {
        name: {
            "steps": len(history["steps"]),
            "epochs": len(history["epochs"]),
            "final": history["epochs"][-1] if history["epochs"] else {},
        }
        for name, history in histories.items()
    }
    return {
        "title": title,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "metadata": dict(metadata or {}),
        "stages": list(results),
        "summary": {
            name: {**result.summary(), **stage_info.get(name, {})}
            for name, result in results.items()
        },
        "by_policy": {name: result.by_policy() for name, result in results.items()},
        "by_category": {name: result.by_category() for name, result in results.items()},
        "comparisons": [_comparison(c) for c in comparisons or []],
        "rewards": _rewards(results),
        "training": training,
        "samples": _samples(results, samples_per_kind),
        "plots": {},
        "stage_info": stage_info,
        "results": {name: result.to_dict() for name, result in results.items()},
        "histories": histories,
    }


def _write_plots(report, directory):
    plots = {"outcomes": "outcomes.png", "policy_rates": "policy_rates.png"}
    plot_outcomes(report["summary"], directory / plots["outcomes"])
    plot_policy_rates(report["by_policy"], directory / plots["policy_rates"])
    if report["rewards"]:
        scores = {
            stage: {
                kind: [r["judge_score"] for r in report["results"][stage]["responses"]
                       if r["kind"] == kind and r["judge_score"] is not None]
                for kind in (HARMFUL, BENIGN)
            }
            for stage in report["rewards"]
        }
        plots["score_distribution"] = "score_distribution.png"
        plot_score_distribution(scores, directory / plots["score_distribution"])
    for stage, history in report["histories"].items():
        name = f"training_{_file_stem(stage)}.png"
        plot_training_curves(history, directory / name, title=f"{stage} training")
        plots[f"training_{stage}"] = name
    return plots


def write_report(output_dir, stages, **kwargs):
    """Write `report.json`, `report.md` and the plots into `output_dir`.

    Args:
        output_dir: str or path. The report directory; replaced atomically.
        stages: dict or list of `(name, SafetyEvalResult)` (see
            `build_report`).
        **kwargs: `comparisons`, `histories`, `stage_info`, `title`,
            `metadata`, `samples_per_kind` (see `build_report`).

    Returns:
        The report dict, with `files` listing what was written.
    """
    report = build_report(stages, **kwargs)
    with staged_output_dir(output_dir) as staging:
        report["plots"] = _write_plots(report, staging)
        (staging / REPORT_MARKDOWN).write_text(render_markdown(report), encoding="utf-8")
        write_json(staging / REPORT_JSON, report)
        report["files"] = sorted(path.name for path in staging.iterdir())
    return report


def read_report(output_dir):
    """The dict of a written `report.json`.

    Raises:
        KerasAlignError: there is no readable report in `output_dir`.
    """
    path = pathlib.Path(output_dir) / REPORT_JSON
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise KerasAlignError(f"{path}: no report here") from error
    except json.JSONDecodeError as error:
        raise KerasAlignError(f"{path}: not valid JSON ({error})") from error


def read_stage_results(output_dir):
    """Stage name -> `SafetyEvalResult` of a written report (to resume a run)."""
    report = read_report(output_dir)
    return {
        name: SafetyEvalResult.from_dict(report["results"][name]) for name in report["stages"]
    }
