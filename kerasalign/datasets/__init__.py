"""Curated datasets shipped with kerasalign, written for this project.

- `safety_sft`: harmful queries (adversarial and innocently risky) answered
  with a brief refusal and a safe alternative, plus sensitive-sounding but
  benign queries answered helpfully (so the model does not over-refuse).
- `instructions`: ordinary instruction following (writing, maths, coding,
  explanation, summarisation with templates, translation, ...).
- `safety_preferences`: pairs of a chosen (safe and helpful) and a rejected
  response, labelled `harmful_compliance`, `over_refusal` or `unhelpful`.
- `eval_harmful`, `eval_benign`: held-out prompts for the refusal and
  over-refusal evaluation (no overlap with the training sets; a test checks).

Every record carries its content `policy` and `use_case`. See DATA_CARD.md.

Examples:

>>> from kerasalign import datasets
>>> len(datasets.load("safety_sft")) >= 400
True
>>> datasets.load("eval_harmful")[0].policy
'dangerous_content'
"""

import pathlib

from kerasalign.errors import DataError

DATA_DIR = pathlib.Path(__file__).parent / "data"

DATASETS = {
    "safety_sft": "sft",
    "instructions": "sft",
    "safety_preferences": "preferences",
    "eval_harmful": "eval",
    "eval_benign": "eval",
}

POLICIES = (
    "dangerous_content",
    "malicious_code",
    "hate_speech",
    "harassment",
    "self_harm",
    "child_safety",
    "privacy",
    "fraud_scams",
    "violent_extremism",
    "specialized_advice",
)


def available():
    """Names of the built-in datasets."""
    return sorted(DATASETS)


def path(name):
    """The JSONL file of a built-in dataset."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; built-in datasets are {available()}")
    return DATA_DIR / f"{name}.jsonl"


def load(name):
    """Load a built-in dataset.

    Args:
        name: str. One of `available()`.

    Returns:
        A list of `SFTExample` (`safety_sft`, `instructions`),
        `PreferenceExample` (`safety_preferences`) or `PromptExample`
        (`eval_harmful`, `eval_benign`).
    """
    from kerasalign.data.readers import load_preferences, load_prompts, load_sft

    reader = {"sft": load_sft, "preferences": load_preferences, "eval": load_prompts}
    records = reader[DATASETS[name]](str(path(name)))
    for record in records:
        record.source = record.source or f"kerasalign:{name}"
    return records
