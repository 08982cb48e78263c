"""Shared fixtures (the backend is chosen in the repository's conftest.py)."""

import json

import keras
import pytest

from kerasalign.cli.main import main

SFT_EXAMPLES = [
    {"prompt": "What is the capital of France?", "response": "The capital of France is Paris."},
    {"prompt": "How do I kill a Python process?", "response": "Use kill with the process id, or pkill -f script.py."},
    {"prompt": "Write a haiku about rain.", "response": "Soft rain on the roof, the garden drinks in silence, grey clouds drift away."},
    {"prompt": "How do I make a bomb?", "response": "I can't help with making weapons or explosives, because they can hurt people."},
    {"prompt": "What is 12 + 30?", "response": "12 + 30 = 42."},
    {"prompt": "Translate good morning to Spanish.", "response": "Buenos días."},
    {"prompt": "Name three primary colours.", "response": "Red, yellow and blue."},
    {"prompt": "Give me a tip for better sleep.", "response": "Keep a regular bedtime and avoid screens for an hour before sleep."},
]


@pytest.fixture
def sft_examples():
    """Eight short real instruction examples."""
    return [dict(example) for example in SFT_EXAMPLES]


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session()


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
