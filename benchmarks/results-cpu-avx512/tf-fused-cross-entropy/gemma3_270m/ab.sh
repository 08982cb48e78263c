# The A/B of this folder: the fused cross-entropy change against 3877fd4, Gemma 3 270M architecture.
BASE=3877fd4
FILES="kerasalign/trainers/logprobs.py kerasalign/trainers/chunked_token_loss.py kerasalign/eval/perplexity.py kerasalign/debug/embedding_forward.py"
OUT=/tmp/ab270
bench() { # $1 label
  .venv/bin/python benchmarks/run.py --config gemma3_270m --tasks sft --batch-size 4 --repeats 1 --steps 2 --warmup 1 \
    --variants kerasalign-tensorflow-bf16-chunk128 --output $OUT/$1 > $OUT/$1.log 2>&1
}
source "$(dirname "${BASH_SOURCE[0]}")/../../../ab_rounds.sh"
