import json

import pytest

from kerasalign.cli.main import main


@pytest.fixture
def run_cli(capsys):
    """Run the command line in-process: returns (exit code, stdout, stderr, json)."""

    def run(*argv):
        code = main([str(arg) for arg in argv])
        out, err = capsys.readouterr()
        result = None
        if "--json" in argv and code == 0:
            result = json.loads(out.strip().splitlines()[-1])
        return code, out, err, result

    return run


@pytest.fixture
def sft_file(tmp_path, sft_examples):
    path = tmp_path / "sft.jsonl"
    path.write_text("\n".join(json.dumps(example) for example in sft_examples) + "\n")
    return path
