"""Quality tools on constructed cases with known answers."""

import doctest

import pytest

from kerasalign.data import quality
from kerasalign.data.quality import (
    contamination,
    coverage,
    coverage_report,
    dedup,
    deduplicate,
    filter_contamination,
    is_refusal,
    near_duplicates,
    normalize_text,
    results,
    split,
    splitting,
    text,
)
from kerasalign.data.schema import PreferenceExample, SFTExample
from kerasalign.errors import DataError

LONG_PROMPT = (
    "Write a detailed guide for a new gardener explaining how to plant tomato "
    "seedlings in spring, water them, stake them and protect them from frost"
)


def sft(prompt, response="Sure.", **kwargs):
    return SFTExample(prompt=prompt, response=response, **kwargs)


# --- normalisation ------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  Hello,   WORLD!! ", "hello, world"),
        ("¿Qué tal?", "qué tal"),
        ("Straße", "strasse"),
        ("tab\tand\nnewline", "tab and newline"),
        ("...", ""),
        ("ﬁne", "fine"),  # NFKC folds the ligature.
    ],
)
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


# --- exact deduplication ---------------------------------------------------------------


def test_deduplicate_known_answer():
    records = [
        sft("How do I boil an egg?", "Boil it for 9 minutes."),
        sft("Name a prime.", "7"),
        sft("  how do I BOIL an egg ", "boil it for 9 minutes"),  # dup of 0
        sft("How do I boil an egg?", "Boil it for 6 minutes."),  # other answer
        sft("name a prime", "7."),  # dup of 1
        sft("How do I boil an egg?!", "Boil it for 9 minutes."),  # dup of 0
    ]
    kept, result = deduplicate(records)
    assert result.kept_indices == [0, 1, 3]
    assert [(r.index, r.partner, r.reason) for r in result.removed] == [
        (2, 0, "duplicate"),
        (4, 1, "duplicate"),
        (5, 0, "duplicate"),
    ]
    assert kept == [records[0], records[1], records[3]]
    assert "record 2: duplicate of record 0" in result.summary()
    assert result.to_dict()["removed"][0] == {
        "index": 2,
        "reason": "duplicate",
        "partner": 0,
        "detail": None,
    }


def test_deduplicate_on_prompt_only():
    records = [
        sft("How do I boil an egg?", "Nine minutes."),
        sft("how do i boil an egg", "Six minutes."),
    ]
    kept, result = deduplicate(records, on="prompt")
    assert result.removed_indices == [1]
    kept, result = deduplicate(records)
    assert result.num_removed == 0


def test_deduplicate_preferences_compares_both_responses():
    pairs = [
        PreferenceExample(prompt="Q", chosen="Safe.", rejected="Harmful."),
        PreferenceExample(prompt="q", chosen="safe", rejected="harmful"),
        PreferenceExample(prompt="Q", chosen="Safe.", rejected="Other."),
        PreferenceExample(prompt="Q", chosen="Harmful.", rejected="Safe."),
    ]
    kept, result = deduplicate(pairs)
    assert result.removed_indices == [1]


def test_deduplicate_chat_and_dict_records():
    chat = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
    records = [
        {"messages": chat},
        SFTExample(messages=[dict(m) for m in chat]),
        {"prompt": "Hi", "response": "Hello"},  # not a chat: a different text
    ]
    kept, result = deduplicate(records)
    assert result.removed_indices == [1]
    assert all(isinstance(example, SFTExample) for example in kept)


def test_bad_dict_record_names_its_position():
    with pytest.raises(DataError) as info:
        deduplicate([{"prompt": "a", "response": "b"}, {"prompt": "c"}])
    assert (info.value.line, info.value.field) == (2, "response")


# --- near duplicates ---------------------------------------------------------------


def test_shingles_and_jaccard():
    assert dedup.shingles("one two", size=3) == {"one two"}
    assert dedup.shingles("", size=3) == set()
    assert dedup.jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)


def test_near_duplicates_known_answer():
    variant = LONG_PROMPT.replace("spring", "April")  # one word changed
    records = [
        sft(LONG_PROMPT, "Dig a hole."),
        sft("What is the capital of France?", "Paris."),
        sft(variant, "Dig a hole."),
        sft(LONG_PROMPT + " and pests and weeds", "Dig a hole."),
        sft("Explain photosynthesis to a child in two sentences.", "Plants eat light."),
    ]
    kept, result = near_duplicates(records, threshold=0.7)
    expected_2 = dedup.jaccard(
        dedup.shingles(text.example_text(records[2])),
        dedup.shingles(text.example_text(records[0])),
    )
    # 26 shingles each; changing one word changes the 3 shingles holding it.
    assert expected_2 == pytest.approx(23 / 29)
    assert [(r.index, r.partner) for r in result.removed] == [(2, 0), (3, 0)]
    assert result.removed[0].detail == pytest.approx(expected_2)
    assert result.kept_indices == [0, 1, 4]
    assert "near duplicate of record 0 (Jaccard 0.79)" in result.summary()
    # Above the similarity of record 2 nothing is removed.
    _, strict = near_duplicates(records, threshold=0.9)
    assert strict.num_removed == 0


def test_near_duplicates_removes_exact_duplicates_and_is_deterministic():
    records = [sft(LONG_PROMPT), sft(LONG_PROMPT), sft("Unrelated short prompt")]
    first = near_duplicates(records)[1]
    second = near_duplicates(records)[1]
    assert first.removed == second.removed
    assert [(r.index, r.partner, r.detail) for r in first.removed] == [(1, 0, 1.0)]


def test_near_duplicates_recall_on_many_pairs():
    # 40 distinct base prompts, each followed by a copy with one word added
    # (Jaccard of about 0.85 to its original): every copy must be found.
    vocabulary = [f"w{i}" for i in range(400)]
    records = []
    for i in range(40):
        base = " ".join(vocabulary[(i * 7 + j) % 400] for j in range(30))
        records.append(sft(base, "ok"))
        records.append(sft(base + " extra", "ok"))
    kept, result = near_duplicates(records, threshold=0.8)
    assert [(r.index, r.partner) for r in result.removed] == [
        (2 * i + 1, 2 * i) for i in range(40)
    ]


def test_near_duplicates_arguments():
    with pytest.raises(ValueError, match="threshold"):
        near_duplicates([], threshold=1.5)
    with pytest.raises(ValueError, match="on must be"):
        deduplicate([], on="response")


# --- contamination --------------------------------------------------------------------


def test_thirteen_gram_overlap_is_contamination():
    eval_prompt = (
        "Explain step by step how a bill becomes a law in the United States "
        "of America today"
    )
    shared_13 = "how a bill becomes a law in the united states of america today"
    assert len(shared_13.split()) == 13
    train = [
        sft("Please answer: " + shared_13.upper() + "?"),  # 13 shared words
        sft("Tell me how a bill becomes a law in the United States of Europe"),
        sft("Explain step by step how a bill becomes a law in"),  # 11 words
        sft("Unrelated"),
    ]
    kept, result = filter_contamination(train, [eval_prompt])
    assert result.removed_indices == [0]
    assert result.removed[0].partner == 0
    assert result.removed[0].detail == shared_13
    assert kept == train[1:]
    # With n=8 the 11-word prefix and the 10-word shared run also count.
    _, looser = filter_contamination(train, [eval_prompt], n=8)
    assert looser.removed_indices == [0, 1, 2]


def test_short_eval_prompts_match_as_a_whole():
    eval_set = [
        {"prompt": "How do I kill a Python process?"},
        "Summarize this article.",
    ]
    train = [
        sft("how do i kill a python process"),  # equal after normalisation
        sft("Quick question: how do I kill a Python process? Thanks"),  # contains
        sft("How do I kill a process?"),  # not the whole sequence
        sft("Summarize"),  # only part of a short eval prompt: kept
    ]
    kept, result = filter_contamination(train, eval_set)
    assert [(r.index, r.partner) for r in result.removed] == [(0, 0), (1, 0)]
    assert result.removed[1].detail == "how do i kill a python process"


def test_short_train_prompt_inside_long_eval_prompt_is_kept():
    train = [sft("Summarize this article.")]
    eval_set = ["Summarize this article. " + LONG_PROMPT]
    kept, result = filter_contamination(train, eval_set)
    assert result.num_removed == 0


def test_contamination_reads_chat_and_preference_prompts():
    question = "what is the boiling point of water at the top of mount everest"
    eval_set = [SFTExample(prompt=question.capitalize() + "?", response="70 C")]
    train = [
        SFTExample(
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": question},
            ],
            response="About 70 C.",
        ),
        PreferenceExample(prompt=question, chosen="70 C", rejected="100 C"),
        PreferenceExample(prompt="What is water?", chosen="H2O", rejected="Fire"),
    ]
    kept, result = filter_contamination(train, eval_set)
    assert result.removed_indices == [0, 1]


# --- coverage --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "response, refusal",
    [
        ("I can't help with that. If you're in danger, call 911.", True),
        ("I’m sorry, but I cannot provide instructions for weapons.", True),
        ("Sorry, I won't write that.", True),
        ("As an AI, I must decline.", True),
        ("That request is something I cannot help with.", True),
        ("Use `kill PID` to stop the process.", False),
        ("I'm sorry to hear that. Here are three ideas to feel better.", False),
        ("Sure! Here is a poem. I can't promise it rhymes.", False),
    ],
)
def test_is_refusal(response, refusal):
    assert is_refusal(response) is refusal


def test_coverage_report_known_answer():
    records = [
        sft(
            "Make a bomb",
            "I can't help with that.",
            policy="dangerous",
            use_case="chat",
        ),
        sft(
            "Buy a gun",
            "I cannot assist with that.",
            policy="dangerous",
            use_case="chat",
        ),
        sft("Kill a process?", "Run kill PID.", policy="dangerous", use_case="coding"),
        sft(
            "Insult my boss",
            "I won't write insults.",
            policy="harassment",
            use_case="chat",
        ),
        sft("France's capital?", "Paris is the capital.", use_case="qa"),
    ]
    report = coverage_report(
        records,
        required_policies=["dangerous", "harassment", "hate_speech"],
        min_per_policy=2,
    )
    assert report.total == 5
    assert report.per_policy == {"dangerous": 3, "harassment": 1, "unspecified": 1}
    assert report.per_use_case == {"chat": 3, "coding": 1, "qa": 1}
    assert report.per_policy_use_case["dangerous"] == {"chat": 2, "coding": 1}
    assert report.missing_policies == ["hate_speech"]
    assert report.under_represented == {"harassment": 1, "hate_speech": 0}
    assert report.refusal_share == {"response": 0.6}
    assert report.refusal_share_by_policy["dangerous"] == {"response": 0.6667}
    assert report.lengths["prompt"] == {
        "count": 5,
        "min": 2,
        "mean": 2.8,
        "median": 3,
        "max": 3,
    }
    assert report.lengths["response"]["max"] == 5
    assert not report.ok
    summary = report.summary()
    assert "hate_speech: 0  (missing)" in summary
    assert "harassment: 1 (response refusals 100%)  (under minimum)" in summary
    assert report.to_dict()["ok"] is False


def test_coverage_report_preferences():
    pairs = [
        PreferenceExample(
            prompt="Rob a store?",
            chosen="I can't help.",
            rejected="Go at night.",
            policy="crime",
        ),
        PreferenceExample(
            prompt="Kill a process?",
            chosen="Run kill PID.",
            rejected="I cannot help.",
            policy="crime",
        ),
    ]
    report = coverage_report(pairs, min_per_policy=2)
    assert report.refusal_share == {"chosen": 0.5, "rejected": 0.5}
    assert report.ok
    assert set(report.lengths) == {"prompt", "chosen", "rejected"}


# --- split -----------------------------------------------------------------------------


def policy_records():
    policies = ["hate"] * 30 + ["weapons"] * 20 + ["none"] * 47 + [None] * 3
    return [sft(f"prompt {i}", policy=p) for i, p in enumerate(policies)]


def test_split_sizes_and_strata():
    records = policy_records()
    (train, validation, test), result = split(records, seed=0)
    assert (len(train), len(validation), len(test)) == (80, 10, 10)
    assert result.strata == {
        "hate": {"train": 24, "validation": 3, "test": 3},
        "none": {"train": 37, "validation": 5, "test": 5},  # 37.6, 4.7, 4.7
        "unspecified": {"train": 3, "validation": 0, "test": 0},
        "weapons": {"train": 16, "validation": 2, "test": 2},
    }
    all_indices = sorted(sum(result.indices.values(), []))
    assert all_indices == list(range(100))
    assert [records.index(r) for r in train] == result.indices["train"]
    assert sum(r.policy == "hate" for r in test) == 3


def test_split_is_deterministic_and_seeded():
    records = policy_records()
    _, first = split(records, seed=3)
    _, again = split(records, seed=3)
    _, other = split(records, seed=4)
    assert first.indices == again.indices
    assert first.indices != other.indices
    assert first.strata == other.strata


def test_split_new_policy_does_not_reshuffle_others():
    records = policy_records()
    _, before = split(records, seed=0)
    extra = records + [sft("new", policy="zzz_new")]
    _, after = split(extra, seed=0)
    assert after.indices["test"] == before.indices["test"]


def test_split_two_way_unstratified_and_callable():
    records = policy_records()
    (train, test), result = split(records, fractions=(0.7, 0.3), stratify=None)
    assert (len(train), len(test)) == (70, 30)
    assert result.names == ("train", "test")
    _, by_length = split(records, stratify=lambda r: len(r.prompt))
    assert set(by_length.strata) == {"8", "9"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"fractions": (0.5, 0.6)}, "add up to 1"),
        ({"fractions": (1.0,)}, "2 or 3"),
        ({"fractions": (1.2, -0.1, -0.1)}, "non-negative"),
        ({"stratify": "prompt"}, "stratify must be"),
    ],
)
def test_split_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        split(policy_records(), **kwargs)


@pytest.mark.parametrize(
    "module",
    [quality, text, results, dedup, contamination, coverage, splitting],
)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
