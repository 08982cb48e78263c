"""What every benchmark worker shares: model configs, data, FLOP counts, timing.

The two sides build the same architecture from a config (random weights; no
download): KerasHub's `GemmaBackbone` / `Gemma3Backbone` for kerasalign, and
Hugging Face's `GemmaForCausalLM` / `Gemma3ForCausalLM` for TRL + PEFT.
Note that KerasHub's `GemmaBackbone.intermediate_dim` is twice Hugging
Face's `intermediate_size`; the configs below are written in HF terms.

FLOPs are counted analytically per token, the same for both sides:
`P` = weights used in matmuls (attention and feed-forward projections and
the tied output layer, not the embedding lookup); `A` = attention score and
value matmuls, `4 * context * heads * head_dim` per layer (the context is the
whole sequence, or the sliding window on local layers; no causal halving).
- forward: `2P + A`;
- LoRA training (frozen base: gradients flow to the inputs of every matmul
  but not to the frozen weights): `4P + 3A`;
- full fine-tuning: `6P + 3A`.
The LoRA factors add under 1% and are left out.
"""

import json
import os
import platform
import resource
import time

import numpy as np

CONFIGS = {
    # Two layers, tiny vocabulary: for the smoke test only.
    "tiny": {
        "family": "gemma",
        "vocabulary_size": 1024,
        "num_layers": 2,
        "num_query_heads": 4,
        "num_key_value_heads": 1,
        "hidden_dim": 128,
        "head_dim": 32,
        "intermediate_size": 256,
        "sliding_window": None,
    },
    # The small config.
    "small": {
        "family": "gemma",
        "vocabulary_size": 32000,
        "num_layers": 8,
        "num_query_heads": 8,
        "num_key_value_heads": 1,
        "hidden_dim": 512,
        "head_dim": 64,
        "intermediate_size": 2048,
        "sliding_window": None,
    },
    # google/gemma-3-270m's architecture.
    "gemma3_270m": {
        "family": "gemma3",
        "vocabulary_size": 262144,
        "num_layers": 18,
        "num_query_heads": 4,
        "num_key_value_heads": 1,
        "hidden_dim": 640,
        "head_dim": 256,
        "intermediate_size": 2048,
        "sliding_window": 512,
    },
    # google/gemma-3-1b's architecture (for accelerators).
    "gemma3_1b": {
        "family": "gemma3",
        "vocabulary_size": 262144,
        "num_layers": 26,
        "num_query_heads": 4,
        "num_key_value_heads": 1,
        "hidden_dim": 1152,
        "head_dim": 256,
        "intermediate_size": 6912,
        "sliding_window": 512,
    },
}

PAD_ID, EOS_ID, BOS_ID = 0, 1, 2
FIRST_ORDINARY_ID = 3


# matmul_ceiling.py: a first call slower than this (compile included) is a
# slow kernel, not a warm-up, and is timed once instead of ten times: on a CPU
# without bfloat16 instructions (AMD EPYC with AVX2 only) PyTorch's bfloat16
# 2048^3 matmul took over a minute, and ten repetitions stalled the benchmark.
SLOW_MATMUL_CALL_SECONDS = 5.0


def matmul_parameters(config):
    """Weights used in matmuls per token (projections + tied output layer)."""
    d, dh = config["hidden_dim"], config["head_dim"]
    h, kv = config["num_query_heads"], config["num_key_value_heads"]
    attention = d * dh * (2 * h + 2 * kv)
    feed_forward = 3 * d * config["intermediate_size"]
    return config["num_layers"] * (attention + feed_forward) + (
        config["vocabulary_size"] * d
    )


def attention_flops_per_token(config, sequence_length):
    """Forward attention matmul FLOPs per token (`A` in the module doc)."""
    total = 0
    for layer in range(config["num_layers"]):
        context = sequence_length
        is_global = config["family"] == "gemma3" and layer % 6 == 5
        if config["sliding_window"] and not is_global:
            context = min(sequence_length, config["sliding_window"])
        total += 4 * context * config["num_query_heads"] * config["head_dim"]
    return total


def training_flops_per_token(config, sequence_length, lora=True):
    """Training FLOPs per token: `4P + 3A` with LoRA, `6P + 3A` without."""
    weights = matmul_parameters(config)
    attention = attention_flops_per_token(config, sequence_length)
    return (4 if lora else 6) * weights + 3 * attention


def make_sft_data(config, rows, sequence_length, seed=0, mixed_lengths=False):
    """Random token ids and a response mask, identical for every framework.

    Args:
        mixed_lengths: bool. Give rows lengths drawn uniformly between an
            eighth of `sequence_length` and all of it (padding after them),
            as real SFT data has. Defaults to `False` (every row full).

    Returns:
        `{"token_ids": (rows, sequence_length + 1) int32,
          "response_mask": same shape, 1 on response tokens,
          "lengths": (rows,) tokens per row, the target included}`; the
        prompt is the first quarter of each full row (the first eighth, at
        most, of a shorter one).
    """
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(
        FIRST_ORDINARY_ID,
        config["vocabulary_size"],
        size=(rows, sequence_length + 1),
        dtype=np.int32,
    )
    token_ids[:, 0] = BOS_ID
    lengths = np.full((rows,), sequence_length + 1)
    if mixed_lengths:
        lengths = rng.integers(sequence_length // 8, sequence_length + 1, size=rows) + 1
    positions = np.arange(sequence_length + 1)[None, :]
    prompt_lengths = np.minimum(sequence_length // 4, lengths // 2)
    response_mask = (positions > prompt_lengths[:, None]) & (
        positions < lengths[:, None]
    )
    token_ids[positions >= lengths[:, None]] = PAD_ID
    return {
        "token_ids": token_ids,
        "response_mask": response_mask.astype(np.int32),
        "lengths": lengths,
    }


def row_lengths(data):
    """Tokens per SFT row (all full when the data has no `lengths`)."""
    if "lengths" in data:
        return data["lengths"]
    return np.full((len(data["token_ids"]),), data["token_ids"].shape[1])


def make_preference_data(config, rows, sequence_length, seed=0):
    """Random preference pairs: a shared prompt, two responses of equal length.

    Returns:
        `{"prompt_ids": (rows, prompt_len), "chosen_ids": (rows, response_len),
          "rejected_ids": (rows, response_len)}` int32, prompt plus response
        filling `sequence_length` tokens; each response ends with EOS.
    """
    rng = np.random.default_rng(seed + 1)
    prompt_length = sequence_length // 4
    response_length = sequence_length - prompt_length

    def ids(length):
        return rng.integers(
            FIRST_ORDINARY_ID,
            config["vocabulary_size"],
            size=(rows, length),
            dtype=np.int32,
        )

    prompt_ids = ids(prompt_length)
    prompt_ids[:, 0] = BOS_ID
    chosen_ids, rejected_ids = ids(response_length), ids(response_length)
    # Each response ends with the end-of-sequence token (TRL's DPO adds it).
    chosen_ids[:, -1] = EOS_ID
    rejected_ids[:, -1] = EOS_ID
    return {
        "prompt_ids": prompt_ids,
        "chosen_ids": chosen_ids,
        "rejected_ids": rejected_ids,
    }


def peak_rss_bytes():
    """This process's peak resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class StepTimer:
    """Wall-clock time of each training step, first one included."""

    def __init__(self):
        self.start = None
        self.ends = []

    def begin(self):
        self.start = time.perf_counter()

    def step_done(self):
        self.ends.append(time.perf_counter())

    def step_seconds(self):
        times = np.array([self.start] + self.ends)
        return np.diff(times).tolist()


def summarise(
    step_seconds,
    warmup,
    tokens_per_step,
    flops_per_step,
    setup_seconds,
    mean_based=False,
):
    """Median step time after warm-up, tokens/s, FLOP/s and compile time.

    With `mean_based` (steps of different sizes: mixed lengths), tokens/s
    and FLOP/s use the mean timed step instead of the median, and
    `tokens_per_step` is the mean over the dataset's steps.
    """
    timed = step_seconds[warmup:]
    if not timed:
        raise ValueError("no timed steps: raise --steps above --warmup")
    median = float(np.median(timed))
    per_step = float(np.mean(timed)) if mean_based else median
    return {
        "steps_timed": len(timed),
        "step_seconds_median": median,
        "step_seconds_min": float(np.min(timed)),
        "step_seconds_max": float(np.max(timed)),
        "first_step_seconds": float(step_seconds[0]),
        # The first step traces and compiles (JAX, TF) or warms caches (torch).
        "compile_seconds": float(max(step_seconds[0] - median, 0.0)),
        "tokens_per_second": tokens_per_step / per_step,
        "flops_per_second": flops_per_step / per_step,
        "setup_seconds": setup_seconds,
        "peak_rss_bytes": peak_rss_bytes(),
    }


def write_result(path, result):
    with open(path, "w") as file:
        json.dump(result, file, indent=2)


def accelerator_name():
    """The GPU's name as `nvidia-smi` gives it, or `None` (CPU only)."""
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return None
    try:
        completed = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() or None


# CPU flags that decide matmul speed: wide vectors and bfloat16 hardware.
CPU_MATMUL_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu_model_and_flags():
    """`("AMD EPYC", ["avx2"])`: /proc/cpuinfo's model name and matmul flags.

    A virtual machine may report only a family name ("AMD EPYC"); the flags
    tell whether bfloat16 has hardware (avx512_bf16, amx_bf16) or not.
    """
    cpu = platform.processor() or platform.machine()
    flags = []
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    flags = [flag for flag in CPU_MATMUL_FLAGS if flag in present]
                    break
    except OSError:
        pass
    return cpu, flags


def machine_description():
    """CPU model and matmul flags, core count and memory, for the report header."""
    cpu, flags = cpu_model_and_flags()
    memory = None
    try:
        with open("/proc/meminfo") as file:
            memory = int(file.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cpu_flags": flags,
        "accelerator": accelerator_name(),
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
