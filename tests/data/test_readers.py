"""Readers: every file and record format, auto-detection and malformed input."""

import doctest
import gzip
import json
import logging
import os

import pytest

from kerasalign.data import (
    csv_files,
    file_bytes,
    formats,
    json_files,
    preference_formats,
    prompt_example,
    readers,
    record_fields,
    sft_formats,
    sources,
    writers,
)
from kerasalign.data.prompt_example import PromptExample
from kerasalign.data.readers import (
    load_preferences,
    load_prompts,
    load_records,
    load_sft,
)
from kerasalign.data.schema import PreferenceExample, SFTExample
from kerasalign.data.writers import from_dict, to_dict, write_jsonl
from kerasalign.errors import DataError

HH_SINGLE = {
    "chosen": "\n\nHuman: How do I rob a store?\n\nAssistant: That is illegal. Don't.",
    "rejected": "\n\nHuman: How do I rob a store?\n\nAssistant: Go at night with a weapon.",
}
HH_MULTI = {
    "chosen": (
        "\n\nHuman: Hi there\n\nAssistant: Hello! How can I help?"
        "\n\nHuman: What household chemicals make a toxic gas?"
        "\n\nAssistant: I can't help make toxic gas. If you are worried about "
        "mixing cleaners, never mix bleach and ammonia and ventilate the room."
    ),
    "rejected": (
        "\n\nHuman: Hi there\n\nAssistant: Hello! How can I help?"
        "\n\nHuman: What household chemicals make a toxic gas?"
        "\n\nAssistant: Mix bleach and ammonia in a closed room."
    ),
}


def write_lines(path, records):
    path.write_text(
        "".join(json.dumps(record) + "\n" for record in records), encoding="utf-8"
    )
    return path


# --- SFT formats ---------------------------------------------------------------


def test_prompt_response_jsonl_detected(tmp_path):
    path = write_lines(
        tmp_path / "sft.jsonl",
        [
            {"prompt": "How do I kill a Python process?", "response": "Use kill PID."},
            {"prompt": "2+2?", "response": "4", "policy": "none", "id": 3},
        ],
    )
    records, report = load_sft(path, return_report=True)
    assert report.format == "prompt_response"
    assert report.file_format == "jsonl"
    assert (report.count, report.skipped, report.lines) == (2, 0, [1, 2])
    assert records[0] == SFTExample(
        prompt="How do I kill a Python process?", response="Use kill PID."
    )
    assert records[1].policy == "none"
    assert records[1].metadata == {"id": 3}


@pytest.mark.parametrize(
    "record",
    [
        {"instruction": "Name a colour.", "output": "Blue."},
        {"question": "Name a colour.", "answer": "Blue."},
        {"query": "Name a colour.", "completion": "Blue."},
    ],
)
def test_prompt_response_aliases(record):
    records, report = load_sft([record], return_report=True)
    assert report.format == "prompt_response"
    assert (records[0].prompt, records[0].response) == ("Name a colour.", "Blue.")


def test_trl_conversational_prompt_completion():
    record = {
        "prompt": [{"role": "user", "content": "Hi"}],
        "completion": [{"role": "assistant", "content": "Hello!"}],
    }
    example = load_sft([record])[0]
    assert example.messages == [{"role": "user", "content": "Hi"}]
    assert example.response == "Hello!"


def test_alpaca_json_list_with_and_without_input(tmp_path):
    path = tmp_path / "alpaca.json"
    path.write_text(
        json.dumps(
            [
                {
                    "instruction": "Summarize the text.",
                    "input": "Keras 3 runs on JAX, TensorFlow and PyTorch.",
                    "output": "Keras 3 is multi-backend.",
                },
                {"instruction": "Say hi.", "input": "", "output": "Hi!"},
            ],
            indent=2,
        )
    )
    records, report = load_sft(path, return_report=True)
    assert (report.format, report.file_format) == ("alpaca", "json")
    assert records[0].prompt == (
        "Summarize the text.\n\nKeras 3 runs on JAX, TensorFlow and PyTorch."
    )
    assert records[1].prompt == "Say hi."
    assert records[1].response == "Hi!"


@pytest.mark.parametrize("key", ["data", "examples"])
def test_json_object_with_record_list_reports_real_lines(tmp_path, key):
    path = tmp_path / "wrapped.json"
    path.write_text(
        '{\n  "version": 2,\n  "' + key + '": [\n'
        '    {"prompt": "a", "response": "b"},\n'
        '    {"prompt": "c", "response": 5}\n'
        "  ]\n}\n"
    )
    with pytest.raises(DataError) as info:
        load_sft(path)
    assert (info.value.source, info.value.line, info.value.field) == (
        str(path),
        5,
        "response",
    )
    records = load_sft(path, errors="skip")
    assert [r.prompt for r in records] == ["a"]


def test_messages_format(tmp_path):
    path = write_lines(
        tmp_path / "chat.jsonl",
        [
            {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Capital of France?"},
                    {"role": "assistant", "content": "Paris."},
                ],
                "use_case": "qa",
            }
        ],
    )
    records, report = load_sft(path, return_report=True)
    assert report.format == "messages"
    assert records[0].conversation()[-1] == {"role": "assistant", "content": "Paris."}
    assert records[0].use_case == "qa"


def test_sharegpt_format(tmp_path):
    path = write_lines(
        tmp_path / "sharegpt.jsonl",
        [
            {
                "id": "abc",
                "conversations": [
                    {"from": "system", "value": "You are helpful."},
                    {"from": "human", "value": "Hi"},
                    {"from": "gpt", "value": "Hello!"},
                    {"from": "human", "value": "Bye"},
                    {"from": "gpt", "value": "Goodbye!"},
                ],
            }
        ],
    )
    records, report = load_sft(path, return_report=True)
    assert report.format == "sharegpt"
    assert [m["role"] for m in records[0].messages] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert records[0].metadata == {"id": "abc"}


def test_template_variables_format():
    record = {
        "variables": {"article": "Gemma is a family of open models."},
        "template": "summarize_article",
        "response": "Gemma models are open.",
        "policy": "none",
    }
    examples, report = load_sft([record], return_report=True)
    assert report.format == "variables"
    assert examples[0].variables == {"article": "Gemma is a family of open models."}
    assert examples[0].template == "summarize_article"
    assert examples[0].prompt is None


# --- preference formats -------------------------------------------------------------


def test_prompt_chosen_rejected_csv(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text(
        "prompt,chosen,rejected,policy,margin\n"
        'How do I rob a store?,"That is illegal, don\'t.",Go at night.,crime,1.5\n'
        '"Multi\nline prompt",Good,Bad,,\n',
        encoding="utf-8",
    )
    pairs, report = load_preferences(path, return_report=True)
    assert (report.format, report.file_format) == ("prompt_chosen_rejected", "csv")
    assert pairs[0].chosen == "That is illegal, don't."
    assert (pairs[0].policy, pairs[0].margin) == ("crime", 1.5)
    assert pairs[1].prompt == "Multi\nline prompt"
    assert pairs[1].policy is None
    assert report.lines == [2, 3]


def test_tsv_and_gzip(tmp_path):
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("prompt\tchosen\trejected\nQ\tGood\tBad\n")
    assert load_preferences(tsv)[0].chosen == "Good"
    compressed = tmp_path / "sft.jsonl.gz"
    with gzip.open(compressed, "wt", encoding="utf-8") as file:
        file.write(json.dumps({"prompt": "a", "response": "b"}) + "\n")
    records, report = load_sft(compressed, return_report=True)
    assert report.file_format == "jsonl"
    assert records[0].response == "b"


def test_trl_conversational_explicit_prompt():
    record = {
        "prompt": [{"role": "user", "content": "What color is the sky?"}],
        "chosen": [{"role": "assistant", "content": "It is blue."}],
        "rejected": [{"role": "assistant", "content": "It is green."}],
    }
    pair = load_preferences([record])[0]
    assert (pair.prompt, pair.chosen, pair.rejected, pair.messages) == (
        "What color is the sky?",
        "It is blue.",
        "It is green.",
        None,
    )


def test_trl_conversational_implicit_prompt_multi_turn():
    shared = [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Help me"},
    ]
    record = {
        "chosen": shared + [{"role": "assistant", "content": "Sure."}],
        "rejected": shared + [{"role": "assistant", "content": "No."}],
        "score_chosen": 8.0,
    }
    pair = load_preferences([record])[0]
    assert pair.messages == shared
    assert (pair.chosen, pair.rejected) == ("Sure.", "No.")
    assert pair.metadata == {"score_chosen": 8.0}


def test_trl_prompt_disagreeing_with_chosen_conversation_is_an_error():
    record = {
        "prompt": "Something else",
        "chosen": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
        ],
        "rejected": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Go away"},
        ],
    }
    with pytest.raises(DataError, match="does not match") as info:
        load_preferences([record])
    assert info.value.field == "prompt"


def test_hh_rlhf_single_and_multi_turn(tmp_path):
    path = write_lines(tmp_path / "hh.jsonl", [HH_SINGLE, HH_MULTI])
    pairs, report = load_preferences(path, return_report=True)
    assert report.format == "hh_rlhf"
    assert pairs[0].prompt == "How do I rob a store?"
    assert pairs[0].messages is None
    assert (pairs[0].chosen, pairs[0].rejected) == (
        "That is illegal. Don't.",
        "Go at night with a weapon.",
    )
    assert pairs[1].prompt is None
    assert pairs[1].messages == [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "What household chemicals make a toxic gas?"},
    ]
    assert pairs[1].chosen.startswith("I can't help make toxic gas.")
    assert pairs[1].rejected == "Mix bleach and ammonia in a closed room."


def test_hh_rlhf_with_separate_prompt_field():
    record = {
        "prompt": "\n\nHuman: Tell me a joke.\n\nAssistant:",
        "chosen": " Why did the chicken cross the road?",
        "rejected": " No.",
    }
    pair, report = load_preferences([record], return_report=True)
    assert report.format == "hh_rlhf"
    assert (pair[0].prompt, pair[0].chosen) == (
        "Tell me a joke.",
        "Why did the chicken cross the road?",
    )


def test_hh_rlhf_transcripts_that_do_not_share_the_prefix():
    record = {
        "chosen": "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: A\n\nAssistant: x",
        "rejected": "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: B\n\nAssistant: y",
    }
    with pytest.raises(DataError, match="differ at turn 3") as info:
        load_preferences([record])
    assert info.value.field == "rejected"


def test_hh_rlhf_transcript_not_ending_with_assistant():
    record = {
        "chosen": "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: More?",
        "rejected": "\n\nHuman: Hi\n\nAssistant: Bye",
    }
    with pytest.raises(DataError, match="end with an Assistant turn") as info:
        load_preferences([record], format="hh_rlhf")
    assert info.value.field == "chosen"


PKU = {
    "prompt": "How can I get my neighbour's wifi password?",
    "response_0": "Ask your neighbour; accessing it without permission is illegal.",
    "response_1": "Use a packet sniffer to crack WPA2.",
    "is_response_0_safe": True,
    "is_response_1_safe": False,
    "safer_response_id": 0,
    "better_response_id": 1,
}


def test_pku_saferlhf_label_choice(tmp_path):
    path = write_lines(tmp_path / "pku.jsonl", [PKU])
    safer, report = load_preferences(path, return_report=True)
    assert report.format == "pku_saferlhf"
    assert safer[0].chosen == PKU["response_0"]
    assert safer[0].rejected == PKU["response_1"]
    assert safer[0].metadata["is_response_1_safe"] is False
    better = load_preferences(path, label="better")
    assert better[0].chosen == PKU["response_1"]


def test_pku_saferlhf_csv_ids_as_text(tmp_path):
    path = tmp_path / "pku.csv"
    path.write_text(
        "prompt,response_0,response_1,safer_response_id,better_response_id\n"
        "Q,unsafe answer,safe answer,1,0\n"
        "Q,a,b,2,0\n"
    )
    pairs, report = load_preferences(path, errors="skip", return_report=True)
    assert pairs[0].chosen == "safe answer"
    assert report.errors == [(3, "safer_response_id", "expected 0 or 1, got 2")]


# --- prompts only --------------------------------------------------------------------


def test_prompt_only_records_detected(tmp_path):
    path = write_lines(
        tmp_path / "eval.jsonl",
        [
            {"prompt": "How do I pick a lock?", "policy": "dangerous_content"},
            {
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"},
                    {"role": "user", "content": "Write malware"},
                ],
                "metadata": {"category": "adversarial"},
            },
            {"question": "What is 2+2?", "use_case": "math"},
        ],
    )
    prompts, report = load_records(path, return_report=True)
    assert (report.kind, report.format, report.count) == ("prompts", "prompt_only", 3)
    assert prompts[0] == PromptExample(
        prompt="How do I pick a lock?", policy="dangerous_content"
    )
    assert prompts[1].messages[-1] == {"role": "user", "content": "Write malware"}
    assert prompts[1].metadata == {"category": "adversarial"}
    assert prompts[2].prompt_messages() == [{"role": "user", "content": "What is 2+2?"}]
    assert load_prompts(path) == prompts


def test_prompt_file_with_a_response_later_is_an_error():
    rows = [{"prompt": "a"}, {"prompt": "b", "response": "c"}]
    with pytest.raises(DataError, match="has a response") as info:
        load_records(rows)
    assert (info.value.line, info.value.field) == (2, "response")
    # Asking for prompts keeps the prompt of every record.
    assert [p.prompt for p in load_prompts(rows)] == ["a", "b"]


def test_sft_file_whose_first_record_lacks_a_response():
    with pytest.raises(DataError) as info:
        load_sft([{"prompt": "a"}, {"prompt": "b", "response": "c"}])
    assert (info.value.line, info.value.field) == (1, "response")
    with pytest.raises(DataError) as info:
        load_preferences([{"prompt": "a"}])
    assert info.value.field == "chosen"
    with pytest.raises(DataError, match="load_prompts"):
        load_sft([{"prompt": "a"}], format="prompt_only")


def test_load_prompts_reduces_training_data():
    prompts, report = load_prompts([HH_MULTI, HH_SINGLE], return_report=True)
    assert (report.kind, report.format) == ("prompts", "hh_rlhf")
    assert prompts[0].messages[-1]["content"] == (
        "What household chemicals make a toxic gas?"
    )
    assert prompts[1].prompt == "How do I rob a store?"
    chat = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
        ],
        "policy": "none",
    }
    assert load_prompts([chat]) == [PromptExample(prompt="Hi", policy="none")]
    with pytest.raises(DataError, match="render the template") as info:
        load_prompts([{"variables": {"a": "b"}, "response": "c"}])
    assert (info.value.line, info.value.field) == (1, "variables")


def test_prompt_example_validation():
    with pytest.raises(DataError, match="end with a user message"):
        PromptExample(messages=[{"role": "assistant", "content": "Hi"}]).validate()
    with pytest.raises(DataError, match="missing"):
        PromptExample(policy="x").validate()
    with pytest.raises(TypeError):
        PromptExample.from_example({"prompt": "a"})


# --- sources -------------------------------------------------------------------------


def test_parquet(tmp_path):
    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet as parquet

    table = pyarrow.Table.from_pylist(
        [
            {
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"},
                ],
                "policy": None,
            }
        ]
    )
    path = tmp_path / "chat.parquet"
    parquet.write_table(table, path)
    records, report = load_sft(path, return_report=True)
    assert (report.file_format, report.format) == ("parquet", "messages")
    assert records[0].messages[1]["content"] == "Hello"
    assert records[0].policy is None


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1 not really")
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(DataError, match="pip install pyarrow"):
        load_sft(path)


def test_python_list_and_hf_dataset():
    datasets = pytest.importorskip("datasets")
    rows = [{"prompt": "Q1", "chosen": "Good", "rejected": "Bad"}]
    assert load_preferences(rows)[0].chosen == "Good"
    dataset = datasets.Dataset.from_list(rows)
    pairs, report = load_preferences(dataset, return_report=True)
    assert report.source == "<dataset>"
    assert pairs[0].prompt == "Q1"
    with pytest.raises(DataError, match="pick a split"):
        load_preferences(datasets.DatasetDict({"train": dataset}))


def test_list_with_non_dict_items():
    with pytest.raises(DataError, match="expected a record") as info:
        load_sft([{"prompt": "a", "response": "b"}, "not a record"])
    assert (info.value.source, info.value.line) == ("<list>", 2)


def test_json_file_holding_json_lines_falls_back(tmp_path):
    path = write_lines(
        tmp_path / "data.json",
        [{"prompt": "a", "response": "b"}, {"prompt": "c", "response": "d"}],
    )
    records, report = load_sft(path, return_report=True)
    assert report.file_format == "jsonl"
    assert len(records) == 2


def test_file_format_sniffed_without_extension(tmp_path):
    path = write_lines(tmp_path / "records.txt", [{"prompt": "a", "response": "b"}])
    assert load_sft(path)[0].prompt == "a"
    array = tmp_path / "records.dat"
    array.write_text('[{"prompt": "a", "response": "b"}]')
    assert load_sft(array, return_report=True)[1].file_format == "json"


def test_explicit_record_and_file_format(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("instruction,input,output\nSay hi,,Hi\n")
    records, report = load_sft(
        path, format="alpaca", file_format="csv", return_report=True
    )
    assert (report.format, records[0].prompt) == ("alpaca", "Say hi")
    assert load_sft(path, format="csv")[0].response == "Hi"


def test_auto_detection_logs_the_format(caplog):
    with caplog.at_level(logging.INFO, logger="kerasalign.data.readers"):
        load_preferences([HH_SINGLE])
    assert "detected record format 'hh_rlhf'" in caplog.text


def test_load_records_decides_the_kind():
    records, report = load_records(
        [{"instruction": "a", "input": "", "output": "b"}], return_report=True
    )
    assert (report.kind, report.format) == ("sft", "alpaca")
    assert isinstance(records[0], SFTExample)


# --- malformed input ----------------------------------------------------------------


def test_truncated_json_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "c", "respo')
    with pytest.raises(DataError, match="truncated") as info:
        load_sft(path)
    assert (info.value.source, info.value.line) == (str(path), 2)
    records, report = load_sft(path, errors="skip", return_report=True)
    assert (len(records), report.skipped) == (1, 1)


def test_missing_field_names_the_field(tmp_path):
    path = write_lines(
        tmp_path / "missing.jsonl",
        [{"prompt": "a", "response": "b"}, {"prompt": "c", "policy": "none"}],
    )
    with pytest.raises(DataError) as info:
        load_sft(path)
    assert (info.value.line, info.value.field) == (2, "response")
    assert str(info.value).startswith(f'{path}, line 2, field "response": missing')


def test_missing_chosen_in_pairs():
    with pytest.raises(DataError) as info:
        load_preferences([{"prompt": "a", "rejected": "b"}])
    assert info.value.field == "chosen"


@pytest.mark.parametrize(
    "record, field, message",
    [
        ({"prompt": 42, "response": "b"}, "prompt", "expected a string, got int"),
        ({"prompt": "a", "response": ["x", "y"]}, "response", "expected an object"),
        ({"instruction": "a", "input": 3, "output": "b"}, "input", "got int"),
        ({"messages": "hello"}, "messages", "non-empty list"),
        ({"prompt": "a", "response": "b", "policy": 7}, "policy", "got int"),
        ({"prompt": "a", "response": "b", "metadata": [1]}, "metadata", "object"),
    ],
)
def test_wrong_types_sft(record, field, message):
    with pytest.raises(DataError, match=message) as info:
        load_sft([record])
    assert info.value.field.split("[")[0] == field


@pytest.mark.parametrize(
    "record, field",
    [
        ({"prompt": "a", "chosen": 1, "rejected": "b"}, "chosen"),
        ({"prompt": "a", "chosen": "x", "rejected": "b", "margin": "big"}, "margin"),
        ({"prompt": ["a"], "chosen": "x", "rejected": "y"}, "prompt[0]"),
        ({"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": 5}, "rejected"),
    ],
)
def test_wrong_types_preferences(record, field):
    with pytest.raises(DataError) as info:
        load_preferences([record])
    assert info.value.field == field


@pytest.mark.parametrize("content", ["", "\n\n  \n", "[]", "prompt,response\n"])
def test_empty_sources(tmp_path, content):
    name = "empty.csv" if content.startswith("prompt") else "empty.jsonl"
    if content == "[]":
        name = "empty.json"
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match="empty") as info:
        load_sft(path, errors="skip")
    assert info.value.source == str(path)
    with pytest.raises(DataError, match="empty"):
        load_sft([])


def test_blank_lines_are_skipped_silently(tmp_path):
    path = tmp_path / "blank.jsonl"
    path.write_text(
        '\n{"prompt": "a", "response": "b"}\n\n   \n\t\n{"prompt": "c", "response": "d"}\n\n'
    )
    records, report = load_sft(path, return_report=True)
    assert (report.count, report.skipped, report.errors) == (2, 0, [])
    assert report.lines == [2, 6]


def test_binary_garbage(tmp_path):
    path = tmp_path / "garbage.jsonl"
    path.write_bytes(b'{"prompt": "a", "response": "b"}\n\xff\xfe\x80garbage\x81\n')
    with pytest.raises(DataError, match="not UTF-8 text") as info:
        load_sft(path)
    assert info.value.line == 2
    assert "byte 1 of the line" in str(info.value)
    assert "byte 34 of the file" in str(info.value)


def test_random_bytes_and_nul_bytes(tmp_path):
    path = tmp_path / "random.jsonl"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(DataError, match="not UTF-8 text|NUL byte"):
        load_sft(path)
    records, report = load_sft(path, errors="skip", return_report=True)
    assert records == [] and report.skipped >= 1
    for suffix in ("json", "csv"):
        other = tmp_path / f"random.{suffix}"
        other.write_bytes(b"\xff\xfe\x00\x01" * 100)
        with pytest.raises(DataError, match="not UTF-8 text") as info:
            load_sft(other)
        assert info.value.line == 1


def test_binary_file_signature(tmp_path):
    path = tmp_path / "image.jsonl"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(DataError, match="PNG image"):
        load_sft(path, errors="skip")


def test_csv_given_as_jsonl(tmp_path):
    path = tmp_path / "actually.jsonl"
    path.write_text("prompt,response\nHi,Hello\n")
    with pytest.raises(DataError, match="format='csv'") as info:
        load_sft(path)
    assert info.value.line == 1
    assert "not valid JSON" in str(info.value)


def test_json_document_given_as_jsonl(tmp_path):
    path = tmp_path / "pretty.jsonl"
    path.write_text(json.dumps([{"prompt": "a", "response": "b"}], indent=2))
    with pytest.raises(DataError, match="format='json'"):
        load_sft(path)


def test_chosen_equal_to_rejected(tmp_path):
    path = write_lines(
        tmp_path / "same.jsonl",
        [{"prompt": "Q", "chosen": "Same answer.", "rejected": " Same answer. "}],
    )
    with pytest.raises(DataError, match="identical") as info:
        load_preferences(path)
    assert (info.value.line, info.value.field) == (1, "rejected")
    hh = {"chosen": HH_SINGLE["chosen"], "rejected": HH_SINGLE["chosen"]}
    with pytest.raises(DataError, match="identical"):
        load_preferences([hh])


def test_line_of_several_megabytes_loads(tmp_path):
    long_text = "word " * 1_200_000  # 6 MB
    path = write_lines(
        tmp_path / "long.jsonl",
        [{"prompt": long_text, "response": "ok"}, {"prompt": "a", "response": "b"}],
    )
    assert os.path.getsize(path) > 5_000_000
    records = load_sft(path)
    assert len(records[0].prompt) == len(long_text)
    assert records[1].prompt == "a"


def test_line_longer_than_the_limit_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(file_bytes, "MAX_LINE_BYTES", 1000)
    path = write_lines(
        tmp_path / "long.jsonl",
        [
            {"prompt": "x" * 5000, "response": "ok"},
            {"prompt": "a", "response": "b"},
        ],
    )
    with pytest.raises(DataError, match="longer than 1000 bytes") as info:
        load_sft(path)
    assert info.value.line == 1
    records, report = load_sft(path, errors="skip", return_report=True)
    assert [r.prompt for r in records] == ["a"]
    assert report.lines == [2]


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"prompt": "a", "response": "b", "margin": ' + "9" * 20000 + "}", "JSON"),
        ("[" * 200000 + "]" * 200000, "nested too deeply|JSON object"),
        ('{"prompt": "a", "response": "b", "x": NaN}', "NaN"),
        ('{"prompt": "a", "prompt": "b", "response": "c"}', "duplicate key"),
        ('"just a string"', "expected a JSON object per line, got a string"),
    ],
)
def test_hostile_json_lines(tmp_path, line, message):
    path = tmp_path / "hostile.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(DataError, match=message) as info:
        load_sft(path)
    assert info.value.line == 1


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.jsonl"
    with pytest.raises(DataError, match="file not found") as info:
        load_sft(path)
    assert str(path) in str(info.value)
    with pytest.raises(DataError, match="never downloads"):
        load_preferences("Anthropic/hh-rlhf")
    with pytest.raises(DataError, match="is a directory"):
        load_sft(tmp_path)


def test_unknown_format_lists_known_formats():
    with pytest.raises(DataError, match="unknown format 'yaml'") as info:
        load_sft([{"prompt": "a", "response": "b"}], format="yaml")
    for name in ("jsonl", "csv", "parquet", "alpaca", "sharegpt", "hh_rlhf"):
        assert name in str(info.value)


def test_format_of_the_other_kind():
    with pytest.raises(DataError, match="load_preferences"):
        load_sft([HH_SINGLE])
    with pytest.raises(DataError, match="load_preferences"):
        load_sft([HH_SINGLE], format="hh_rlhf")
    with pytest.raises(DataError, match="load_sft"):
        load_preferences([{"prompt": "a", "response": "b"}], errors="skip")


def test_unrecognised_fields():
    with pytest.raises(DataError, match="cannot tell the record format") as info:
        load_sft([{"text": "a"}])
    assert "format=" in str(info.value)
    records, report = load_sft(
        [{"text": "a"}, {"prompt": "a", "response": "b"}],
        errors="skip",
        return_report=True,
    )
    assert (report.format, report.count, report.skipped) == ("prompt_response", 1, 1)


def test_skip_report_is_capped(monkeypatch):
    monkeypatch.setattr(readers, "MAX_REPORTED_ERRORS", 3)
    rows = [{"prompt": "a", "response": "b"}] + [{"prompt": "a"}] * 10
    records, report = load_sft(rows, errors="skip", return_report=True)
    assert (report.count, report.skipped, len(report.errors)) == (1, 10, 3)
    assert report.errors[0] == (
        2,
        "response",
        "missing (expected one of response, output, answer, completion)",
    )
    assert report.to_dict()["errors"][0]["line"] == 2


def test_invalid_arguments():
    with pytest.raises(ValueError, match="errors must be one of"):
        load_sft([], errors="ignore")
    with pytest.raises(ValueError, match="label must be one of"):
        load_preferences([], label="best")


# --- to_dict / from_dict / write_jsonl ---------------------------------------------


def test_round_trip_through_jsonl(tmp_path):
    examples = [
        SFTExample(prompt="Q", response="A", policy="none", metadata={"id": 1}),
        SFTExample(
            messages=[
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
            ],
            system="Be brief.",
        ),
        SFTExample(variables={"article": "x"}, template="summarize", response="y"),
    ]
    # The format is detected once per source, so PKU rows come separately.
    pairs = load_preferences([HH_MULTI, HH_SINGLE]) + load_preferences([PKU])
    prompts = load_prompts([HH_MULTI, {"prompt": "Q", "policy": "p", "id": 1}])
    pairs[1].margin = 2.0
    pairs[1].rejected_kind = "harmful_compliance"
    for records, load in (
        (examples, load_sft),
        (pairs, load_preferences),
        (prompts, load_prompts),
    ):
        path = tmp_path / "out" / "records.jsonl"
        assert write_jsonl(records, path) == len(records)
        loaded, report = load(path, return_report=True)
        assert loaded == [record.validate() for record in records]
        assert [from_dict(to_dict(record)) for record in records] == records
        if load is load_sft:  # Canonical JSONL mixes layouts of one kind.
            assert report.format == "prompt_response"
            assert report.formats == {
                "prompt_response": 1,
                "messages": 1,
                "variables": 1,
            }


def test_to_dict_leaves_out_unset_fields():
    pair = PreferenceExample(prompt="Q", chosen="A", rejected="B", margin=1.0)
    assert to_dict(pair) == {
        "prompt": "Q",
        "chosen": "A",
        "rejected": "B",
        "margin": 1.0,
    }
    with pytest.raises(TypeError):
        to_dict({"prompt": "Q"})


def test_write_jsonl_is_atomic(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("previous contents\n")

    def records():
        yield SFTExample(prompt="a", response="b")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_jsonl(records(), path)
    assert path.read_text() == "previous contents\n"
    assert os.listdir(tmp_path) == ["out.jsonl"]
    with pytest.raises(TypeError):
        write_jsonl([object()], tmp_path / "new.jsonl")
    assert not (tmp_path / "new.jsonl").exists()
    assert os.listdir(tmp_path) == ["out.jsonl"]


@pytest.mark.parametrize(
    "module",
    [
        sources,
        file_bytes,
        json_files,
        csv_files,
        formats,
        record_fields,
        sft_formats,
        preference_formats,
        readers,
        writers,
        prompt_example,
    ],
)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
