"""Run one training step of a tiny preset on 1 device, data parallel and model parallel.

SFT always; with LoRA also DPO and the reward model.

Started by tests/test_distribution.py in a subprocess with
`XLA_FLAGS=--xla_force_host_platform_device_count=8 KERAS_BACKEND=jax`, since
the device count is fixed when JAX starts. Prints one JSON object: the
losses of each run (under "sft", and with LoRA "dpo" and "reward"), and the sharding spec and first shard's shape of
every weight of the SFT model.

    python tests/distribution_worker.py tiny_gemma3 --lora-rank 4
"""

import argparse
import contextlib
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402

import kerasalign  # noqa: E402
from kerasalign import distribution as kd  # noqa: E402
from kerasalign.data import SFTPreprocessor  # noqa: E402
from kerasalign.data.preference_preprocessor import PreferencePreprocessor  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import SFT_EXAMPLES  # noqa: E402


def _losses(trainer, x, y=None, weight=None):
    """The loss of one training step on the batch, and the loss after it."""
    trainer.compile(learning_rate=1e-2)
    first = trainer.train_on_batch(x, y, sample_weight=weight, return_dict=True)
    after = trainer.evaluate(
        x, y, sample_weight=weight, batch_size=8, verbose=0, return_dict=True
    )
    return {"loss": float(first["loss"]), "loss_after_step": float(after["loss"])}


def preference_steps(preset, lora_rank, distribution):
    """One DPO step (reference log-probs from the base, LoRA off) and one
    reward-model step, each on a freshly loaded model."""
    pairs = kerasalign.datasets.load("safety_preferences")[::50][:8]
    result = {}
    for objective in ("dpo", "reward"):
        keras.utils.set_random_seed(0)
        with _scope(distribution):
            model = kerasalign.load_causal_lm(preset, lora_rank=lora_rank)
            if objective == "dpo":
                trainer = kerasalign.DPOTrainer(model, beta=0.1)
                x = PreferencePreprocessor(model.preprocessor.tokenizer, "gemma", 64).batch(pairs)
                x = trainer.precompute_reference_logprobs(x, batch_size=8)
            else:
                trainer = kerasalign.RewardModel(model, sequence_length=64)
                x = trainer.preprocessor.batch(pairs)
            result[objective] = _losses(trainer, x)
    return result


def one_step(preset, lora_rank, distribution):
    keras.utils.set_random_seed(0)
    with _scope(distribution):
        model = kerasalign.load_causal_lm(preset, lora_rank=lora_rank)
        preprocessor = SFTPreprocessor(model.preprocessor.tokenizer, "gemma", 64)
        x, y, weight = preprocessor.batch(SFT_EXAMPLES)
        losses = _losses(kerasalign.SFTTrainer(model), x, y, weight)
    shards = {}
    for variable in model.backbone.weights:
        value = variable.value
        shards[variable.path] = {
            "shape": list(variable.shape),
            "shard_shape": list(value.addressable_shards[0].data.shape),
            "devices": len(value.sharding.device_set),
        }
    specs = {path: list(spec) for path, spec in kd.sharding_specs(model).items()}
    result = {"sft": losses, "specs": specs, "shards": shards}
    if lora_rank:
        result.update(preference_steps(preset, lora_rank, distribution))
    return result


def _scope(distribution):
    """The distribution's scope, or no scope for the single-device run."""
    return distribution.scope() if distribution is not None else contextlib.nullcontext()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("preset")
    parser.add_argument("--lora-rank", type=int, default=4)
    parser.add_argument("--model-parallel", type=int, default=4)
    args = parser.parse_args()
    lora_rank = args.lora_rank or None
    result = {"devices": len(keras.distribution.list_devices())}
    result["single"] = one_step(args.preset, lora_rank, None)
    result["data"] = one_step(args.preset, lora_rank, kd.data_parallel())
    result["model"] = one_step(
        args.preset, lora_rank, kd.model_parallel(model_parallel=args.model_parallel)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
