import json

import pytest


@pytest.fixture
def sft_file(tmp_path, sft_examples):
    path = tmp_path / "sft.jsonl"
    path.write_text("\n".join(json.dumps(example) for example in sft_examples) + "\n")
    return path
