"""Deterministic, stratified train / validation / test splits.

Each stratum (by default each policy) is shuffled with its own random
generator, seeded from `seed` and the stratum's name, and cut by the
fractions with the largest-remainder method, so the split sizes add up
exactly, a policy's examples spread over the splits in proportion, and adding
a new policy does not reshuffle the others. Strata too small to give every
split an example put their remainder in the earlier (larger) splits first.
Within each split the records keep their input order. Remove duplicates
before splitting, or a duplicate pair can straddle train and test.

Examples:

>>> from kerasalign.data.schema import SFTExample
>>> records = [SFTExample(prompt=f"q{i}", response="a",
...                       policy="hate" if i % 2 else "none")
...            for i in range(20)]
>>> (train, validation, test), result = split(records, seed=0)
>>> len(train), len(validation), len(test)
(16, 2, 2)
>>> result.strata["hate"]
{'train': 8, 'validation': 1, 'test': 1}
"""

import dataclasses
import math
import zlib

import numpy as np

from kerasalign.data.quality.coverage import UNSPECIFIED
from kerasalign.data.quality.text import as_examples

SPLIT_NAMES = {2: ("train", "test"), 3: ("train", "validation", "test")}


@dataclasses.dataclass
class SplitResult:
    """Which records went to which split.

    Args:
        names: tuple of str. The split names, e.g.
            `("train", "validation", "test")`.
        indices: dict. Split name -> 0-based input positions.
        strata: dict. Stratum -> split name -> count.
        fractions: tuple of float. The fractions asked for.
        seed: int. The seed used.
        stratify: str. What was stratified on (`None` for nothing).
    """

    names: tuple
    indices: dict
    strata: dict
    fractions: tuple
    seed: int
    stratify: object

    def to_dict(self):
        """The result as a JSON-ready dict (sizes and strata, not indices)."""
        return {
            "sizes": {name: len(self.indices[name]) for name in self.names},
            "strata": self.strata,
            "fractions": list(self.fractions),
            "seed": self.seed,
            "stratify": self.stratify if isinstance(self.stratify, str) else None,
        }

    def summary(self):
        """A readable summary: sizes and per-stratum counts."""
        sizes = ", ".join(f"{n} {len(self.indices[n])}" for n in self.names)
        lines = [f"split (seed {self.seed}): {sizes}"]
        for stratum, counts in self.strata.items():
            lines.append(
                f"  {stratum}: " + ", ".join(f"{n} {counts[n]}" for n in self.names)
            )
        return "\n".join(lines)


def _check_fractions(fractions):
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) not in SPLIT_NAMES:
        raise ValueError(
            f"fractions must have 2 or 3 entries. Received: fractions={fractions}"
        )
    if any(f < 0 for f in fractions) or not math.isclose(
        sum(fractions), 1.0, abs_tol=1e-6
    ):
        raise ValueError(
            "fractions must be non-negative and add up to 1. "
            f"Received: fractions={fractions}"
        )
    return fractions


def _stratum_key(example, stratify):
    if stratify is None:
        return "all"
    if callable(stratify):
        return str(stratify(example))
    return getattr(example, stratify) or UNSPECIFIED


def _allocate(count, fractions):
    """Largest-remainder allocation of `count` items to the fractions."""
    exact = [fraction * count for fraction in fractions]
    sizes = [math.floor(value) for value in exact]
    by_remainder = sorted(
        range(len(fractions)), key=lambda i: (-(exact[i] - sizes[i]), i)
    )
    for i in by_remainder[: count - sum(sizes)]:
        sizes[i] += 1
    return sizes


def split(records, fractions=(0.8, 0.1, 0.1), seed=0, stratify="policy"):
    """Split records deterministically, stratified by policy.

    Args:
        records: list of `SFTExample`, `PreferenceExample` or dict.
        fractions: tuple of float. Two (train, test) or three (train,
            validation, test) fractions adding up to 1.
            Defaults to `(0.8, 0.1, 0.1)`.
        seed: int. Seed of the shuffles. Defaults to `0`.
        stratify: str, callable or `None`. A field (`"policy"`,
            `"use_case"`), a function of an example returning its stratum,
            or `None` for no stratification. Defaults to `"policy"`.

    Returns:
        `(splits, result)`: a tuple of lists of examples, one per fraction,
        and a `SplitResult`.
    """
    fractions = _check_fractions(fractions)
    if isinstance(stratify, str) and stratify not in ("policy", "use_case"):
        raise ValueError(
            "stratify must be 'policy', 'use_case', a callable or None. "
            f"Received: {stratify=}"
        )
    examples = as_examples(records)
    names = SPLIT_NAMES[len(fractions)]
    strata = {}
    for index, example in enumerate(examples):
        strata.setdefault(_stratum_key(example, stratify), []).append(index)
    indices = {name: [] for name in names}
    counts = {}
    for stratum in sorted(strata):
        members = np.array(strata[stratum])
        stratum_seed = zlib.crc32(stratum.encode("utf-8"))
        np.random.default_rng([seed, stratum_seed]).shuffle(members)
        start = 0
        counts[stratum] = {}
        for name, size in zip(names, _allocate(len(members), fractions), strict=True):
            indices[name].extend(int(i) for i in members[start : start + size])
            counts[stratum][name] = size
            start += size
    for name in names:
        indices[name].sort()
    result = SplitResult(
        names=names,
        indices=indices,
        strata=counts,
        fractions=fractions,
        seed=seed,
        stratify=stratify,
    )
    splits = tuple([examples[i] for i in indices[name]] for name in names)
    return splits, result
