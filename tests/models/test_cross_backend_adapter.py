"""An adapter saved on one backend loads on the others with the same logits."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import kerasalign
from kerasalign.data import SFTPreprocessor

LOGITS_SCRIPT = textwrap.dedent(
    """
    import sys
    import keras
    import numpy as np
    import kerasalign
    model = kerasalign.load_causal_lm("tiny_gemma3")
    kerasalign.load_adapter(model, sys.argv[1])
    x = {"token_ids": np.array([[2, 30, 31, 32, 33, 34]]), "padding_mask": np.ones((1, 6), bool)}
    np.save(sys.argv[2], keras.ops.convert_to_numpy(model(x)))
    """
)


@pytest.mark.parametrize("other_backend", ["jax", "tensorflow", "torch"])
def test_adapter_moves_between_backends(tmp_path, sft_examples, other_backend):
    if other_backend == keras.config.backend():
        pytest.skip("same backend; covered by test_lora")
    model = kerasalign.load_causal_lm("tiny_gemma3", lora_rank=4, lora_targets="attention")
    x, y, weight = SFTPreprocessor(model.preprocessor.tokenizer, "gemma", 64).batch(sft_examples)
    trainer = kerasalign.SFTTrainer(model)
    trainer.compile(learning_rate=1e-2)
    trainer.fit(x, y, sample_weight=weight, batch_size=8, epochs=3, verbose=0)
    kerasalign.save_adapter(model, tmp_path / "adapter")
    inputs = {"token_ids": np.array([[2, 30, 31, 32, 33, 34]]), "padding_mask": np.ones((1, 6), bool)}
    expected = keras.ops.convert_to_numpy(model(inputs))
    env = {**os.environ, "KERAS_BACKEND": other_backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run(
        [sys.executable, "-c", LOGITS_SCRIPT, str(tmp_path / "adapter"), str(tmp_path / "logits.npy")],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    np.testing.assert_allclose(np.load(tmp_path / "logits.npy"), expected, atol=1e-4)
