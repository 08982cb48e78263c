#!/usr/bin/env bash
# LoRA SFT (and DPO) throughput of kerasalign on one GPU, JAX backend, in
# bfloat16 and float32: the Gemma 3 270M architecture and a 1B-class one
# (google/gemma-3-1b's), batch 8 x 1024 tokens. Random weights, nothing
# downloaded. Writes results.{json,md} per config under $1 (default
# benchmarks/results-gpu).
#
#   KERAS_BACKEND=jax JAX_PLATFORMS=cuda bash benchmarks/gpu.sh /tmp/gpu
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results-gpu}"
common=(--batch-size 8 --sequence-length 1024 --warmup 3 --steps 10 --repeats 1
        --ceiling-size 8192 --timeout "${WORKER_TIMEOUT:-180}")
python3 benchmarks/run.py --config gemma3_270m --tasks sft "${common[@]}" \
  --variants kerasalign-jax-bf16-chunk256,kerasalign-jax-bf16,kerasalign-jax \
  --output "$out/gemma3_270m_sft"
python3 benchmarks/run.py --config gemma3_1b --tasks sft "${common[@]}" \
  --variants kerasalign-jax-bf16-chunk256,kerasalign-jax-bf16 \
  --output "$out/gemma3_1b_sft"
python3 benchmarks/run.py --config gemma3_270m --tasks dpo "${common[@]}" \
  --variants kerasalign-jax-bf16-chunk256 \
  --output "$out/gemma3_270m_dpo"
