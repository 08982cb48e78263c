"""keras.distribution helpers: same loss on 8 simulated devices (SFT, DPO and
the reward model), real sharding.

The 8-device runs happen in a subprocess (`tests/distribution_worker.py`)
with `XLA_FLAGS=--xla_force_host_platform_device_count=8 KERAS_BACKEND=jax`,
whatever backend this test session uses.
"""

import doctest
import json
import os
import pathlib
import subprocess
import sys

import keras
import pytest

from kerasalign import distribution as kd

WORKER = pathlib.Path(__file__).parent / "distribution_worker.py"


def _run_worker(*args):
    env = dict(os.environ)
    env.update(
        XLA_FLAGS="--xla_force_host_platform_device_count=8",
        KERAS_BACKEND="jax",
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    completed = subprocess.run(
        [sys.executable, str(WORKER), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


# tiny_gemma trains every weight (sharded optimizer updates); tiny_gemma3
# trains LoRA on a sharded frozen base.
RUNS = {
    "tiny_gemma-full": ("tiny_gemma", "0"),
    "tiny_gemma3-lora": ("tiny_gemma3", "4"),
}


@pytest.fixture(scope="module", params=sorted(RUNS))
def worker_result(request):
    preset, lora_rank = RUNS[request.param]
    return request.param, _run_worker(
        preset, "--lora-rank", lora_rank, "--model-parallel", "4"
    )


def test_a_step_gives_the_same_loss_on_one_and_eight_devices(worker_result):
    name, result = worker_result
    assert result["devices"] == 8
    # SFT in every run; DPO and the reward model where the base is frozen
    # under LoRA (DPO's reference is the base with LoRA off).
    objectives = ["sft", "dpo", "reward"] if name.endswith("lora") else ["sft"]
    for objective in objectives:
        single = result["single"][objective]
        for mode in ("data", "model"):
            run = result[mode][objective]
            assert run["loss"] == pytest.approx(single["loss"], rel=1e-5), (objective, mode)
            assert run["loss_after_step"] == pytest.approx(
                single["loss_after_step"], rel=1e-4
            ), (objective, mode)
        assert single["loss_after_step"] < single["loss"], objective


def test_data_parallel_replicates_every_weight(worker_result):
    _, result = worker_result
    for path, shard in result["data"]["shards"].items():
        assert shard["devices"] == 8, path
        assert shard["shard_shape"] == shard["shape"], path
    assert all(set(spec) <= {None} for spec in result["data"]["specs"].values())


def test_model_parallel_shards_weights_as_the_layout_says(worker_result):
    name, result = worker_result
    specs = result["model"]["specs"]
    shards = result["model"]["shards"]
    # A (2, 4) mesh: "batch" has 2 devices, "model" 4.
    expected = {
        "token_embedding/embeddings": ["model", "batch"],
        "decoder_block_0/attention/query/kernel": ["model", "batch", None],
        # One key/value head cannot be split 4 ways: that dimension stays whole.
        "decoder_block_0/attention/key/kernel": [None, "batch", None],
        "decoder_block_0/attention/value/kernel": [None, "batch", None],
        "decoder_block_1/attention/attention_output/kernel": ["model", None, "batch"],
        "decoder_block_1/ffw_gating/kernel": ["batch", "model"],
        "decoder_block_1/ffw_gating_2/kernel": ["batch", "model"],
        "decoder_block_1/ffw_linear/kernel": ["model", "batch"],
        "final_normalization/scale": [None],
    }
    axis_size = {"batch": 2, "model": 4, None: 1}
    for path, spec in expected.items():
        assert specs[path] == spec, path
        shape = shards[path]["shape"]
        assert shards[path]["shard_shape"] == [
            dim // axis_size[axis] for dim, axis in zip(shape, spec, strict=True)
        ], path
        assert shards[path]["devices"] == 8, path
    lora_paths = [path for path in specs if "lora_kernel" in path]
    assert bool(lora_paths) == name.endswith("lora")
    assert all(set(specs[path]) == {None} for path in lora_paths)


@pytest.mark.backend
def test_other_backends_get_a_clear_error():
    if keras.config.backend() == "jax":
        pytest.skip("the helpers work on JAX")
    for helper in (kd.data_parallel, kd.model_parallel, kd.device_mesh):
        with pytest.raises(kd.KerasAlignError, match="needs the JAX backend"):
            helper()


@pytest.mark.skipif(keras.config.backend() != "jax", reason="JAX only")
def test_bad_mesh_arguments():
    devices = keras.distribution.list_devices()
    with pytest.raises(kd.KerasAlignError, match="model_parallel must be"):
        kd.device_mesh(model_parallel=len(devices) + 1)
    with pytest.raises(kd.KerasAlignError, match="model_parallel must be"):
        kd.device_mesh(model_parallel=0)
    with pytest.raises(kd.KerasAlignError, match="at least one device"):
        kd.data_parallel(devices=[])
    mesh = kd.device_mesh()
    with pytest.raises(kd.KerasAlignError, match="not 'data'"):
        kd.gemma_layout_map(mesh, data_dim="data")


def test_docstring_examples():
    result = doctest.testmod(kd, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
