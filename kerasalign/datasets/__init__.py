"""Curated datasets shipped with kerasalign, written for this project.

- `safety_sft`: harmful queries (adversarial and innocently risky) answered
  with a brief refusal and a safe alternative, plus sensitive-sounding but
  benign queries answered helpfully (so the model does not over-refuse).
- `instructions`: ordinary instruction following (writing, maths, coding,
  explanation, summarisation with templates, translation, ...).
- `safety_preferences`: pairs of a chosen (safe and helpful) and a rejected
  response, labelled `harmful_compliance`, `over_refusal` or `unhelpful`.
- `benign_sensitive_sft`, `benign_sensitive_preferences`: 128 more
  sensitive-sounding but benign prompts, answered helpfully and as
  `over_refusal` pairs (opt-in: `kerasalign align --more-benign-data`).
- `contrastive_safety_sft`, `contrastive_safety_preferences`: 113 topics,
  each with a harmful prompt (refused; `harmful_compliance` pair) and a
  benign prompt on the same topic with the same alarming words (answered;
  `over_refusal` pair), so purpose, not topic, decides (opt-in:
  `kerasalign align --contrastive-data`).
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

import hashlib
import pathlib

from kerasalign.errors import DataError

DATA_DIR = pathlib.Path(__file__).parent / "data"

DATASETS = {
    "safety_sft": "sft",
    "instructions": "sft",
    "safety_preferences": "preferences",
    "benign_sensitive_sft": "sft",
    "benign_sensitive_preferences": "preferences",
    "contrastive_safety_sft": "sft",
    "contrastive_safety_preferences": "preferences",
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


def digest(*names):
    """A short hash of the contents of built-in datasets.

    Changes whenever any of the named files changes (a new kerasalign release
    with more data, or a local edit), so pipelines can tell that results made
    from the old data are stale.

    Args:
        *names: str. Names from `available()`.

    Returns:
        str. 16 hexadecimal characters.

    Examples:

    >>> from kerasalign import datasets
    >>> len(datasets.digest("eval_harmful", "eval_benign"))
    16
    >>> datasets.digest("eval_harmful") == datasets.digest("eval_benign")
    False
    """
    hasher = hashlib.sha256()
    for name in names:
        hasher.update(name.encode() + b"\0")
        hasher.update(path(name).read_bytes())
        hasher.update(b"\0")
    return hasher.hexdigest()[:16]


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
