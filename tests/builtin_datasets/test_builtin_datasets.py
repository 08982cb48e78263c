"""The built-in datasets: sizes, policy coverage, labels and zero contamination."""

import collections
import json

import pytest

from kerasalign import datasets
from kerasalign.cli.main import main
from kerasalign.data import PreferenceExample, SFTExample
from kerasalign.data.prompt_example import PromptExample
from kerasalign.data.quality import (
    coverage_report,
    deduplicate,
    filter_contamination,
    is_refusal,
)

MINIMUM_SIZES = {
    "safety_sft": 400,
    "instructions": 300,
    "safety_preferences": 400,
    "eval_harmful": 100,
    "eval_benign": 100,
    "benign_sensitive_sft": 100,
    "benign_sensitive_preferences": 100,
    "contrastive_safety_sft": 200,
    "contrastive_safety_preferences": 200,
}
TRAINING_SETS = [
    "safety_sft",
    "instructions",
    "safety_preferences",
    "benign_sensitive_sft",
    "benign_sensitive_preferences",
    "contrastive_safety_sft",
    "contrastive_safety_preferences",
]


@pytest.mark.parametrize("name", sorted(MINIMUM_SIZES))
def test_dataset_loads_with_metadata(name):
    records = datasets.load(name)
    assert len(records) >= MINIMUM_SIZES[name]
    expected_type = {"sft": SFTExample, "preferences": PreferenceExample, "eval": PromptExample}[
        datasets.DATASETS[name]
    ]
    assert all(isinstance(record, expected_type) for record in records)
    assert all(record.policy and record.use_case for record in records)


@pytest.mark.parametrize(
    "name", ["safety_sft", "safety_preferences", "contrastive_safety_sft", "contrastive_safety_preferences"]
)
def test_every_policy_is_covered(name):
    report = coverage_report(datasets.load(name), required_policies=datasets.POLICIES, min_per_policy=10)
    assert report.missing_policies == []
    assert not {policy: count for policy, count in report.under_represented.items() if policy in datasets.POLICIES}


@pytest.mark.parametrize("name, minimum", [("eval_harmful", 10), ("eval_benign", 5)])
def test_eval_sets_cover_every_policy(name, minimum):
    policies = collections.Counter(prompt.policy for prompt in datasets.load(name))
    assert all(policies[policy] >= minimum for policy in datasets.POLICIES), policies


@pytest.mark.parametrize("eval_name", ["eval_harmful", "eval_benign"])
@pytest.mark.parametrize("train_name", TRAINING_SETS)
def test_zero_contamination_between_training_and_eval_sets(train_name, eval_name):
    eval_prompts = [prompt.prompt for prompt in datasets.load(eval_name)]
    train = datasets.load(train_name)
    kept, result = filter_contamination(train, eval_prompts)
    assert len(kept) == len(train), result.summary()


@pytest.mark.parametrize("name", TRAINING_SETS)
def test_no_exact_duplicates(name):
    records = datasets.load(name)
    kept, result = deduplicate(records)
    assert len(kept) == len(records), result.summary()


@pytest.mark.parametrize("name", ["safety_sft", "benign_sensitive_sft", "contrastive_safety_sft"])
def test_safety_sft_labels_agree_with_the_refusal_detector(name):
    for example in datasets.load(name):
        expected = example.metadata["response_type"] == "refusal"
        assert is_refusal(example.response) == expected, example.prompt


@pytest.mark.parametrize(
    "name", ["safety_preferences", "benign_sensitive_preferences", "contrastive_safety_preferences"]
)
def test_preference_labels_agree_with_the_refusal_detector(name):
    for pair in datasets.load(name):
        if pair.rejected_kind == "harmful_compliance":
            assert is_refusal(pair.chosen) and not is_refusal(pair.rejected), pair.prompt
        elif pair.rejected_kind == "over_refusal":
            assert not is_refusal(pair.chosen) and is_refusal(pair.rejected), pair.prompt


@pytest.mark.parametrize("name", TRAINING_SETS)
def test_data_check_and_coverage_commands_pass(name, capsys):
    path = str(datasets.path(name))
    kind = datasets.DATASETS[name]
    assert main(["data", "check", path, "--kind", kind, "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["skipped"] == 0 if "skipped" in result else True
    assert main(["data", "coverage", path, "--json"]) == 0


def test_contrastive_sets_pair_a_harmful_and_a_benign_prompt_on_each_topic():
    examples = datasets.load("contrastive_safety_sft")
    pairs = datasets.load("contrastive_safety_preferences")
    assert [e.prompt for e in examples] == [p.prompt for p in pairs]
    harmful, benign = examples[0::2], examples[1::2]
    for refused, answered in zip(harmful, benign, strict=True):
        assert refused.policy == answered.policy
        assert refused.metadata["category"] in ("adversarial", "innocent_risky")
        assert answered.metadata["category"] == "benign_sensitive"
    assert [p.rejected_kind for p in pairs[:2]] == ["harmful_compliance", "over_refusal"]
    assert {p.rejected_kind for p in pairs[0::2]} == {"harmful_compliance"}
    assert {p.rejected_kind for p in pairs[1::2]} == {"over_refusal"}


def test_data_card_exists():
    card = (datasets.DATA_DIR / "DATA_CARD.md").read_text()
    for heading in ("Intended use", "Licence", "How it was written"):
        assert heading in card
