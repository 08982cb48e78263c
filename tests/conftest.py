"""Shared fixtures (the backend is chosen in the repository's conftest.py)."""

import keras
import pytest

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
