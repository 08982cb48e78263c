"""DPOTrainer: learning, frozen reference, the two reference modes, errors."""

import doctest

import keras
import numpy as np
import pytest

import kerasalign
from kerasalign.data.preference_preprocessor import PreferencePreprocessor
from kerasalign.trainers import dpo_trainer as dpo_trainer_module
from kerasalign.trainers import losses
from kerasalign.trainers.dpo_trainer import DPOTrainer
from kerasalign.trainers.metrics_recorder import MetricsRecorder
from kerasalign.trainers.reference import lora_layers, reference_logprobs

SEQUENCE_LENGTH = 64


@pytest.fixture(scope="module")
def pairs():
    # Eight pairs spread over the built-in set's policies and rejection kinds.
    return kerasalign.datasets.load("safety_preferences")[::50][:8]


def _batch(causal_lm, pairs):
    return PreferencePreprocessor(causal_lm.preprocessor.tokenizer, "gemma", SEQUENCE_LENGTH).batch(pairs)


def _weights(model):
    return {w.path: keras.ops.convert_to_numpy(w).copy() for w in model.weights}


def _randomise_lora(causal_lm, seed=0):
    """Give LoRA's B factors random values so the policy differs from its base."""
    rng = np.random.default_rng(seed)
    for layer in lora_layers(causal_lm):
        shape = tuple(layer.lora_kernel_b.shape)
        layer.lora_kernel_b.assign(rng.normal(0.0, 0.05, size=shape).astype("float32"))


@pytest.mark.backend
def test_dpo_raises_accuracies_and_margins_and_changes_only_lora(pairs):
    # LoRA on every projection: a random 2-layer model has too little
    # capacity under rank-4 query/value LoRA for a clear signal in 3 epochs.
    policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=8, lora_targets="all")
    x = _batch(policy, pairs)
    before = _weights(policy)
    trainer = DPOTrainer(policy, beta=0.1)
    trainer.compile(learning_rate=5e-3)
    recorder = MetricsRecorder()
    history = trainer.fit(x, batch_size=4, epochs=3, verbose=0, callbacks=[recorder]).history
    # LoRA's B starts at zero: the policy starts as the reference.
    assert recorder.steps[0]["rewards/margins"] == pytest.approx(0.0, abs=1e-4)
    assert history["rewards/margins"][-1] > history["rewards/margins"][0] + 0.5
    assert history["rewards/accuracies"][-1] >= 0.9
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    after = trainer.evaluate(x, batch_size=4, verbose=0, return_dict=True)
    assert after["rewards/accuracies"] >= 0.9 and after["rewards/margins"] > 0.5
    assert after["rewards/chosen"] > after["rewards/rejected"]

    # Only LoRA factors changed, each of them; the base weights did not.
    trainable = {w.path for w in policy.trainable_weights}
    assert trainable and all("lora_kernel" in path for path in trainable)
    for path, value in _weights(policy).items():
        if path in trainable:
            assert not np.allclose(value, before[path]), f"{path} did not change"
        else:
            np.testing.assert_array_equal(value, before[path], err_msg=path)
    # The reference (the policy with LoRA off) is the one computed before training.
    reference_now = reference_logprobs(policy, x)
    cached = trainer.precompute_reference_logprobs(x)
    for key, value in reference_now.items():
        np.testing.assert_allclose(value, cached[key], rtol=1e-5, atol=1e-4)


@pytest.mark.backend
@pytest.mark.parametrize("loss", ["sigmoid", "ipo"])
def test_precomputed_reference_equals_separate_reference(pairs, loss):
    policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
    _randomise_lora(policy)
    reference = kerasalign.load_causal_lm("tiny_gemma")  # the same seeded base weights
    x = _batch(policy, pairs[:4])
    precomputed = DPOTrainer(policy, loss=loss)
    separate = DPOTrainer(policy, reference=reference, loss=loss)
    results = []
    for trainer in (precomputed, separate):
        trainer.compile()
        results.append(trainer.evaluate(x, batch_size=4, verbose=0, return_dict=True))
    assert results[0]["loss"] != pytest.approx(np.log(2.0), abs=1e-3)  # a non-trivial batch
    for name, value in results[0].items():
        np.testing.assert_allclose(results[1][name], value, rtol=1e-4, atol=1e-5, err_msg=name)
    assert not any(w.trainable for w in reference.weights)


@pytest.mark.backend
def test_reference_lora_on_keeps_a_loaded_adapter_as_the_reference(pairs):
    policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
    _randomise_lora(policy)  # as if an SFT adapter had been loaded
    x = _batch(policy, pairs[:4])
    trainer = DPOTrainer(policy, reference_lora="on")
    trainer.compile(learning_rate=1e-3)
    recorder = MetricsRecorder()
    trainer.fit(x, batch_size=4, epochs=1, verbose=0, callbacks=[recorder])
    assert recorder.steps[0]["rewards/chosen"] == pytest.approx(0.0, abs=1e-4)
    assert recorder.steps[0]["rewards/margins"] == pytest.approx(0.0, abs=1e-4)
    with_adapter = trainer.precompute_reference_logprobs(x)["reference_chosen_logps"]
    base = DPOTrainer(policy).precompute_reference_logprobs(x)["reference_chosen_logps"]
    assert not np.allclose(with_adapter, base, atol=1e-3)
    with pytest.raises(kerasalign.KerasAlignError, match="training has started"):
        trainer.precompute_reference_logprobs(_batch(policy, pairs[4:]))


@pytest.mark.backend
@pytest.mark.parametrize("loss", ["robust", "hinge", "simpo", "orpo"])
def test_every_variant_trains(pairs, loss):
    policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=8, lora_targets="all")
    x = _batch(policy, pairs[:4])
    # ORPO also runs the chunked log-softmax with rematerialisation.
    trainer = DPOTrainer(policy, loss=loss, chunk_size=16, remat=loss == "orpo")
    trainer.compile(learning_rate=5e-3)
    history = trainer.fit(x, batch_size=4, epochs=4, verbose=0).history
    assert set(losses.metric_names(loss)) | {"loss", "logps/chosen", "logps/rejected"} == set(history)
    assert np.isfinite(history["loss"]).all()
    assert history["loss"][-1] < history["loss"][0]
    assert history["rewards/margins"][-1] > history["rewards/margins"][0]


def test_reference_free_losses_need_no_reference_logprobs(pairs):
    policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=2)
    assert not DPOTrainer(policy, loss="simpo").needs_reference_logprobs
    assert DPOTrainer(policy).needs_reference_logprobs


def test_missing_reference_logprobs_is_a_clear_error(pairs):
    policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=2)
    trainer = DPOTrainer(policy)
    y_pred = {key: np.zeros(2, "float32") for key in ("chosen_logps", "rejected_logps")}
    with pytest.raises(kerasalign.KerasAlignError, match="precompute_reference_logprobs"):
        trainer.compute_loss(x={}, y_pred=y_pred)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"loss": "kto"}, r"loss must be one of \['sigmoid', 'ipo', 'hinge', 'robust', 'simpo', 'orpo'\]. Received: loss='kto'"),
        ({"beta": 0.0}, "beta must be a number > 0.0. Received: beta=0.0"),
        ({"beta": "high"}, "beta must be a number"),
        ({"beta": float("nan")}, "beta must be a number > 0.0. Received: beta=nan"),
        ({"loss": "ipo", "label_smoothing": 0.1}, "label_smoothing applies to"),
        ({"label_smoothing": 0.5}, r"label_smoothing must be a number >= 0.0 and < 0.5"),
        ({"gamma": 1.0}, "gamma applies to loss='simpo'"),
        ({"chunk_size": 0}, "chunk_size must be an integer >= 1"),
        ({"reference_lora": "maybe"}, r"reference_lora must be one of \['off', 'on'\]"),
    ],
)
def test_bad_hyperparameters_are_refused(kwargs, match):
    policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=2)
    with pytest.raises(kerasalign.KerasAlignError, match=match):
        DPOTrainer(policy, **kwargs)


def test_mismatched_reference_models_are_refused():
    import keras_hub

    policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=2)
    with pytest.raises(kerasalign.KerasAlignError, match="the policy itself"):
        DPOTrainer(policy, reference=policy)
    with pytest.raises(kerasalign.KerasAlignError, match="backbone_class: policy 'GemmaBackbone' vs reference 'Gemma3Backbone'"):
        DPOTrainer(policy, reference=kerasalign.load_causal_lm("tiny_gemma3"))
    other_vocabulary = keras_hub.models.GemmaCausalLM(
        backbone=keras_hub.models.GemmaBackbone(
            vocabulary_size=100, num_layers=2, num_query_heads=4, num_key_value_heads=1,
            hidden_dim=128, intermediate_dim=512, head_dim=32,
        ),
        preprocessor=None,
    )
    with pytest.raises(kerasalign.KerasAlignError, match="vocabulary_size: policy 4096 vs reference 100"):
        DPOTrainer(policy, reference=other_vocabulary)
    with pytest.raises(kerasalign.KerasAlignError, match="reference-free"):
        DPOTrainer(policy, reference=kerasalign.load_causal_lm("tiny_gemma"), loss="simpo")


def test_config_round_trip():
    policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=2)
    trainer = DPOTrainer(policy, loss="robust", beta=0.2, label_smoothing=0.2, chunk_size=16)
    restored = DPOTrainer.from_config(trainer.get_config())
    assert (restored.loss_name, restored.beta, restored.label_smoothing, restored.chunk_size) == (
        "robust", 0.2, 0.2, 16,
    )


@pytest.mark.backend
def test_docstring_examples():
    result = doctest.testmod(dpo_trainer_module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.backend
def test_length_bucketed_reference_logprobs_come_back_in_order(pairs):
    causal_lm = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
    x = _batch(causal_lm, pairs)
    plain = reference_logprobs(causal_lm, x, batch_size=3)
    bucketed = reference_logprobs(causal_lm, x, batch_size=3, bucket_multiple=8)
    for key, value in plain.items():
        assert len(set(value.tolist())) > 1  # rows differ, so an order error shows
        np.testing.assert_allclose(bucketed[key], value, rtol=1e-5, atol=1e-4)


def test_rpo_alpha_adds_the_chosen_responses_mean_token_nll():
    # RPO (Pang et al., 2024): DPO's loss + alpha * NLL of the chosen
    # responses, each normalised by its length, averaged over the batch.
    policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=2)
    chosen, rejected = np.array([-12.0, -30.0]), np.array([-20.0, -25.0])
    counts = np.array([4.0, 10.0])
    reference_chosen, reference_rejected = np.array([-14.0, -28.0]), np.array([-19.0, -26.0])
    y_pred = {
        "chosen_logps": chosen, "rejected_logps": rejected,
        "chosen_mean_logps": chosen / counts, "rejected_mean_logps": rejected / np.array([5.0, 5.0]),
        "chosen_token_counts": counts, "rejected_token_counts": np.array([5.0, 5.0]),
    }
    x = {"reference_chosen_logps": reference_chosen, "reference_rejected_logps": reference_rejected}
    margins = 0.1 * ((chosen - reference_chosen) - (rejected - reference_rejected))
    dpo = np.mean(np.log1p(np.exp(-margins)))  # -log sigmoid
    nll = np.mean([12.0 / 4.0, 30.0 / 10.0])  # 3.0
    plain = DPOTrainer(policy, beta=0.1).compute_loss(x=x, y_pred=y_pred)
    assert float(plain) == pytest.approx(dpo, rel=1e-5)
    rpo = DPOTrainer(policy, beta=0.1, rpo_alpha=0.5)
    assert float(rpo.compute_loss(x=x, y_pred=y_pred)) == pytest.approx(dpo + 0.5 * nll, rel=1e-5)
    assert float(rpo._trackers["nll_loss"].result()) == pytest.approx(nll, rel=1e-5)
    assert "nll_loss" not in DPOTrainer(policy)._trackers


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rpo_alpha": -1.0}, r"rpo_alpha must be a number >= 0.0. Received: rpo_alpha=-1.0"),
        ({"loss": "orpo", "rpo_alpha": 1.0}, "ORPO's loss already has the chosen responses' NLL"),
    ],
)
def test_bad_rpo_alpha_is_refused(kwargs, match):
    policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=2)
    with pytest.raises(kerasalign.KerasAlignError, match=match):
        DPOTrainer(policy, **kwargs)


@pytest.mark.backend
def test_rpo_keeps_the_chosen_responses_likelier_than_plain_dpo(pairs):
    # DPO alone may lower both responses' log-probs as long as the margin
    # grows; the NLL term holds the chosen responses up.
    results = {}
    for alpha in (0.0, 1.0):
        policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=8, lora_targets="all")
        x = _batch(policy, pairs[:4])
        trainer = DPOTrainer(policy, beta=0.1, rpo_alpha=alpha)
        trainer.compile(learning_rate=5e-3)
        history = trainer.fit(x, batch_size=4, epochs=4, verbose=0).history
        assert np.isfinite(history["loss"]).all()
        results[alpha] = history
    assert "nll_loss" in results[1.0] and "nll_loss" not in results[0.0]
    assert results[1.0]["nll_loss"][-1] < results[1.0]["nll_loss"][0]
    assert results[1.0]["logps/chosen"][-1] > results[0.0]["logps/chosen"][-1]
    assert results[1.0]["rewards/margins"][-1] > results[1.0]["rewards/margins"][0]
