"""StageRunner: order, results passing, resume, re-run on changed settings, atomicity."""

import json

import pytest

from kerasalign.align import Stage, StageRunner


def _stage(name, calls, value, settings=None, fail=False):
    def run(directory, results):
        calls.append(name)
        if fail:
            raise RuntimeError("boom")
        (directory / "out.txt").write_text(str(value))
        return {"value": value, "seen": sorted(results)}

    return Stage(name, run, settings=settings or {})


def test_runs_in_order_and_passes_results(tmp_path):
    calls = []
    results = StageRunner(tmp_path, log=lambda line: None).run(
        [_stage("a", calls, 1), _stage("b", calls, 2)]
    )
    assert calls == ["a", "b"]
    assert results["b"] == {"value": 2, "seen": ["a"]}
    record = json.loads((tmp_path / "b" / "stage.json").read_text())
    assert record["result"]["value"] == 2 and record["seconds"] >= 0


def test_resume_skips_finished_stages(tmp_path):
    calls = []
    StageRunner(tmp_path, log=lambda line: None).run([_stage("a", calls, 1), _stage("b", calls, 2)])
    runner = StageRunner(tmp_path, log=lambda line: None)
    results = runner.run([_stage("a", calls, 1), _stage("b", calls, 2)])
    assert calls == ["a", "b"] and runner.skipped == ["a", "b"]
    assert results["a"]["value"] == 1


def test_changed_settings_rerun_that_stage_and_the_ones_after(tmp_path):
    calls = []
    stages = lambda lr: [_stage("a", calls, 1), _stage("b", calls, 2, {"lr": lr}), _stage("c", calls, 3)]  # noqa: E731
    StageRunner(tmp_path, log=lambda line: None).run(stages(0.1))
    calls.clear()
    StageRunner(tmp_path, log=lambda line: None).run(stages(0.2))
    assert calls == ["b", "c"]


def test_failed_stage_leaves_no_directory_and_resumes_there(tmp_path):
    calls = []
    with pytest.raises(RuntimeError):
        StageRunner(tmp_path, log=lambda line: None).run([_stage("a", calls, 1), _stage("b", calls, 2, fail=True)])
    assert (tmp_path / "a" / "stage.json").exists() and not (tmp_path / "b").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    calls.clear()
    StageRunner(tmp_path, log=lambda line: None).run([_stage("a", calls, 1), _stage("b", calls, 2)])
    assert calls == ["b"]


def test_progress_lines_include_an_estimate(tmp_path):
    lines = []
    calls = []
    StageRunner(tmp_path, log=lines.append).run([_stage("a", calls, 1), _stage("b", calls, 2)])
    assert lines[0].startswith("[1/2] a: running")
    assert "left" in lines[2]


def test_a_stage_with_depends_on_is_kept_when_another_branch_changes(tmp_path):
    # "reward" depends only on "base": retuning "sft" re-runs "sft" and
    # "sft_eval" (which follows it by default) but keeps "reward"; "dpo"
    # depends on both branches.
    calls = []

    def stages(sft_lr, reward_lr=0.1):
        return [
            _stage("base", calls, 0),
            _stage("sft", calls, 1, {"lr": sft_lr}),
            _stage("sft_eval", calls, 2),
            Stage("reward", _stage("reward", calls, 3, {"lr": reward_lr}).run,
                  settings={"lr": reward_lr}, depends_on=("base",)),
            Stage("dpo", _stage("dpo", calls, 4).run, depends_on=("sft", "reward")),
        ]

    StageRunner(tmp_path, log=lambda line: None).run(stages(0.1))
    assert calls == ["base", "sft", "sft_eval", "reward", "dpo"]
    calls.clear()
    StageRunner(tmp_path, log=lambda line: None).run(stages(0.2))
    assert calls == ["sft", "sft_eval", "dpo"]
    calls.clear()
    StageRunner(tmp_path, log=lambda line: None).run(stages(0.2, reward_lr=0.3))
    assert calls == ["reward", "dpo"]


def test_depends_on_a_later_or_unknown_stage_is_an_error(tmp_path):
    calls = []
    stages = [_stage("a", calls, 1), Stage("b", _stage("b", calls, 2).run, depends_on=("c",))]
    with pytest.raises(ValueError, match=r"'b' depends on \['c'\]"):
        StageRunner(tmp_path, log=lambda line: None).run(stages)
    assert calls == []  # checked before anything runs


def test_a_finished_stages_reference_cycles_are_freed_before_the_next_stage(tmp_path):
    import gc
    import weakref

    class Model:
        pass

    alive_in_b = []
    refs = []

    def stage_a(directory, results):
        model = Model()
        model.self_reference = model  # a cycle, as models and trainers hold
        refs.append(weakref.ref(model))

    def stage_b(directory, results):
        alive_in_b.append(refs[0]() is not None)

    # Without the collector's own timing: only an explicit collection frees the cycle.
    gc.disable()
    try:
        StageRunner(tmp_path, log=lambda line: None).run([Stage("a", stage_a), Stage("b", stage_b)])
    finally:
        gc.enable()
    assert alive_in_b == [False]
