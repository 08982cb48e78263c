"""`load_causal_lm(..., remat=True)`: the same training, decoder blocks recomputed."""

import doctest

import keras
import numpy as np
import pytest

import kerasalign
from kerasalign.data.sft_preprocessor import SFTPreprocessor
from kerasalign.models import remat as remat_module
from kerasalign.models.remat import rematerialised_blocks
from kerasalign.trainers.sft_trainer import SFTTrainer


def _train(remat, examples):
    keras.utils.set_random_seed(0)
    model = kerasalign.load_causal_lm("tiny_gemma3", lora_rank=4, sequence_length=48, remat=remat)
    x, y, sample_weight = SFTPreprocessor(model.preprocessor.tokenizer, "gemma", 48).batch(examples)
    trainer = SFTTrainer(model)
    trainer.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5))
    history = trainer.fit(x, y, sample_weight=sample_weight, batch_size=4, epochs=3, shuffle=False, verbose=0)
    weights = {w.path: keras.ops.convert_to_numpy(w) for w in model.trainable_weights}
    return model, history.history["loss"], weights


@pytest.mark.backend
def test_remat_trains_exactly_like_the_plain_model():
    examples = kerasalign.datasets.load("instructions")[:8]
    if keras.config.backend() == "tensorflow":
        with pytest.raises(kerasalign.KerasAlignError, match="remat=True needs the JAX or PyTorch backend"):
            kerasalign.load_causal_lm("tiny_gemma3", remat=True)
        return
    plain_model, plain_loss, plain_weights = _train(False, examples)
    model, loss, weights = _train(True, examples)
    assert rematerialised_blocks(plain_model) == []
    # Keras wraps the call of each block named here in `keras.remat`.
    assert rematerialised_blocks(model) == ["decoder_block_0", "decoder_block_1"]
    assert plain_loss[-1] < plain_loss[0] - 0.05
    np.testing.assert_allclose(loss, plain_loss, rtol=1e-4)
    for path, value in plain_weights.items():
        np.testing.assert_allclose(weights[path], value, rtol=1e-3, atol=1e-5, err_msg=path)


def test_remat_must_be_a_bool():
    with pytest.raises(kerasalign.KerasAlignError, match="remat must be True or False. Received: 'yes'"):
        kerasalign.load_causal_lm("tiny_gemma", remat="yes")


@pytest.mark.skipif(keras.config.backend() == "tensorflow", reason="remat needs JAX or PyTorch")
def test_docstring_examples():
    result = doctest.testmod(remat_module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
