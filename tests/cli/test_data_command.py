"""`kerasalign data check|dedup|split|coverage|convert`."""

import json

import pytest

from kerasalign.cli.main import main
from kerasalign.data.readers import load_preferences, load_sft

HH = [
    {
        "chosen": "\n\nHuman: How do I rob a store?\n\nAssistant: That is illegal. Don't.",
        "rejected": "\n\nHuman: How do I rob a store?\n\nAssistant: Go at night.",
        "policy": "crime",
    },
    {
        "chosen": "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: A joke?\n\nAssistant: Knock knock.",
        "rejected": "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: A joke?\n\nAssistant: No.",
    },
]
SFT = [
    {
        "prompt": "How do I make a bomb?",
        "response": "I can't help with that.",
        "policy": "weapons",
    },
    {
        "prompt": "How do I kill a Python process?",
        "response": "Run kill PID.",
        "policy": "none",
    },
    {
        "prompt": "how do I make a bomb",
        "response": "I can't help with that",
        "policy": "weapons",
    },
    {"prompt": "Name a prime.", "response": "7", "policy": "none"},
]


def write_lines(path, records, extra=""):
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + extra)
    return str(path)


def last_json(capsys):
    captured = capsys.readouterr()
    return json.loads(captured.out.strip().splitlines()[-1])


def test_check_text(tmp_path, capsys):
    path = write_lines(tmp_path / "hh.jsonl", HH)
    assert main(["data", "check", path]) == 0
    out = capsys.readouterr().out
    assert f"{path}: 2 preference pairs, format hh_rlhf (file format jsonl)" in out


def test_check_json_lists_errors_by_line(tmp_path, capsys):
    bad = {"chosen": HH[0]["chosen"], "rejected": HH[0]["chosen"]}
    path = write_lines(tmp_path / "hh.jsonl", HH + [bad], extra='{"chosen": "trunc')
    assert main(["data", "check", path, "--errors", "skip", "--json"]) == 0
    result = last_json(capsys)
    assert result["ok"] is False
    assert (result["kind"], result["format"], result["count"]) == (
        "preferences",
        "hh_rlhf",
        2,
    )
    assert result["skipped"] == 2
    assert [(e["line"], e["field"]) for e in result["errors"]] == [
        (3, "rejected"),
        (4, None),
    ]
    assert main(["data", "check", path, "--errors", "skip"]) == 0
    out = capsys.readouterr().out
    assert 'line 3, field "rejected": chosen and rejected are identical' in out


def test_bad_record_exits_2_with_one_line(tmp_path, capsys):
    path = write_lines(tmp_path / "sft.jsonl", SFT + [{"prompt": 5, "response": "x"}])
    assert main(["data", "check", path]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert lines == [
        f'kerasalign data: error: {path}, line 5, field "prompt": '
        "expected a string, got int"
    ]


@pytest.mark.parametrize(
    "content, args, message",
    [
        (None, [], "file not found"),
        ("prompt,response\na,b\n", [], "format='csv'"),
        (b"\xff\xfe\x00garbage", [], "not UTF-8 text"),
        ("", [], "empty"),
        ('{"prompt": "a", "response": "b"}\n', ["--format", "yaml"], "known formats"),
        ('{"prompt": "a", "response": "b"}\n', ["--kind", "preferences"], "load_sft"),
    ],
)
def test_bad_input_exits_2(tmp_path, capsys, content, args, message):
    path = tmp_path / "input.jsonl"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    for action in (["check"], ["coverage"], ["convert", "--output", "o.jsonl"]):
        assert main(["data", *action, str(path), *args]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1
        assert message in err
        assert "Traceback" not in err


def test_prompt_files(tmp_path, capsys):
    prompts = [
        {"prompt": "How do I make a bomb?", "policy": "weapons"},
        {"prompt": "How do I kill a Python process?", "policy": "none"},
    ]
    path = write_lines(tmp_path / "eval.jsonl", prompts)
    assert main(["data", "check", path]) == 0
    assert "2 prompts, format prompt_only" in capsys.readouterr().out
    assert main(["data", "coverage", path, "--min-per-policy", "1", "--json"]) == 0
    result = last_json(capsys)
    assert (result["ok"], result["refusal_share"]) == (True, {})
    sft_path = write_lines(tmp_path / "sft.jsonl", SFT)
    output = tmp_path / "prompts.jsonl"
    args = ["--kind", "prompts", "--output", str(output)]
    assert main(["data", "convert", sft_path, *args]) == 0
    assert json.loads(output.read_text().splitlines()[1]) == {
        "prompt": "How do I kill a Python process?",
        "policy": "none",
    }


def test_dedup_exact_and_near(tmp_path, capsys):
    base = "Write a long and careful letter to my landlord asking to fix the heating before winter"
    records = SFT + [
        {"prompt": base, "response": "Dear landlord, please fix the heating."},
        {
            "prompt": base + " comes",
            "response": "Dear landlord, please fix the heating.",
        },
    ]
    path = write_lines(tmp_path / "sft.jsonl", records)
    output = tmp_path / "out" / "dedup.jsonl"
    assert main(["data", "dedup", path, "--output", str(output), "--json"]) == 0
    result = last_json(capsys)
    assert (result["total"], result["kept"]) == (6, 5)
    assert result["removed"] == [
        {"line": 3, "reason": "duplicate", "duplicate_of_line": 1}
    ]
    assert len(load_sft(output)) == 5
    assert main(["data", "dedup", path, "--output", str(output), "--near", "0.75"]) == 0
    out = capsys.readouterr().out
    assert "kept 4 of 6" in out
    assert "line 3: duplicate of line 1" in out
    assert "line 6: near duplicate of line 5 (Jaccard" in out
    assert [r.prompt for r in load_sft(output)][-1] == base


def test_split_writes_a_complete_directory(tmp_path, capsys):
    records = [
        {"prompt": f"question {i}", "response": "answer", "policy": ["a", "b"][i % 2]}
        for i in range(20)
    ]
    path = write_lines(tmp_path / "sft.jsonl", records)
    out_dir = tmp_path / "splits"
    assert main(["data", "split", path, "--output-dir", str(out_dir), "--json"]) == 0
    result = last_json(capsys)
    assert result["sizes"] == {"train": 16, "validation": 2, "test": 2}
    assert result["strata"]["a"] == {"train": 8, "validation": 1, "test": 1}
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "test.jsonl",
        "train.jsonl",
        "validation.jsonl",
    ]
    assert len(load_sft(out_dir / "train.jsonl")) == 16
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # Into an existing directory, with two fractions and another seed.
    args = ["--fractions", "0.75,0.25", "--seed", "1", "--stratify", "none"]
    assert main(["data", "split", path, "--output-dir", str(out_dir), *args]) == 0
    assert len(load_sft(out_dir / "test.jsonl")) == 5


def test_split_bad_fractions_exit_2(tmp_path, capsys):
    path = write_lines(tmp_path / "sft.jsonl", SFT)
    with pytest.raises(SystemExit) as info:
        main(["data", "split", path, "--output-dir", "x", "--fractions", "0.5,0.6"])
    assert info.value.code == 2
    assert "add up to 1" in capsys.readouterr().err


def test_coverage(tmp_path, capsys):
    path = write_lines(tmp_path / "sft.jsonl", SFT)
    args = ["--min-per-policy", "2", "--require", "weapons,hate_speech", "--json"]
    assert main(["data", "coverage", path, *args]) == 0
    result = last_json(capsys)
    assert result["per_policy"] == {"none": 2, "weapons": 2}
    assert result["missing_policies"] == ["hate_speech"]
    assert result["refusal_share"] == {"response": 0.5}
    assert result["ok"] is False
    assert main(["data", "coverage", path]) == 0
    out = capsys.readouterr().out
    assert "weapons: 2 (response refusals 100%)" in out


def test_convert_hh_to_canonical_jsonl(tmp_path, capsys):
    path = write_lines(tmp_path / "hh.jsonl", HH)
    output = tmp_path / "pairs.jsonl"
    assert (
        main(["data", "convert", path, "--to", "jsonl", "--output", str(output)]) == 0
    )
    assert "converted 2 preference pairs from format hh_rlhf" in capsys.readouterr().out
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert lines[0] == {
        "prompt": "How do I rob a store?",
        "chosen": "That is illegal. Don't.",
        "rejected": "Go at night.",
        "policy": "crime",
    }
    assert lines[1]["messages"][-1] == {"role": "user", "content": "A joke?"}
    assert load_preferences(output) == load_preferences(path)


def test_convert_csv_with_explicit_format(tmp_path, capsys):
    path = tmp_path / "data.txt"
    path.write_text("instruction,input,output\nSay hi,,Hi\n")
    output = tmp_path / "out.jsonl"
    args = ["--format", "csv", "--output", str(output), "--json"]
    assert main(["data", "convert", str(path), *args]) == 0
    assert last_json(capsys)["format"] == "alpaca"
    assert json.loads(output.read_text()) == {"prompt": "Say hi", "response": "Hi"}


def test_bad_output_paths_exit_2(tmp_path, capsys):
    path = write_lines(tmp_path / "sft.jsonl", SFT)
    (tmp_path / "a_file").write_text("x")
    commands = [
        ["convert", path, "--output", str(tmp_path)],
        ["dedup", path, "--output", str(tmp_path / "a_file" / "out.jsonl")],
        ["split", path, "--output-dir", str(tmp_path / "a_file")],
    ]
    for command in commands:
        assert main(["data", *command]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1
        assert "Traceback" not in err


def test_failed_convert_leaves_no_output(tmp_path, capsys):
    path = write_lines(tmp_path / "sft.jsonl", SFT, extra="not json\n")
    output = tmp_path / "out.jsonl"
    assert main(["data", "convert", path, "--output", str(output)]) == 2
    assert not output.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sft.jsonl"]
