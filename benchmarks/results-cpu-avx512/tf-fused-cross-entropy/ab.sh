# The A/B of this folder: the fused cross-entropy change against 3877fd4.
BASE=3877fd4
FILES="kerasalign/trainers/logprobs.py kerasalign/trainers/chunked_token_loss.py kerasalign/eval/perplexity.py kerasalign/debug/embedding_forward.py"
OUT=/tmp/ab
bench() { # $1 label
  .venv/bin/python benchmarks/run.py --config small --tasks sft --repeats 1 --steps 3 --warmup 1 \
    --variants trl-bf16-noremat,kerasalign-tensorflow-bf16-chunk192,kerasalign-tensorflow-chunk192 --output $OUT/$1/sft > $OUT/$1.sft.log 2>&1
  .venv/bin/python benchmarks/run.py --config small --tasks dpo --repeats 1 --steps 3 --warmup 1 \
    --variants trl-bf16-noremat,kerasalign-tensorflow-bf16 --output $OUT/$1/dpo > $OUT/$1.dpo.log 2>&1
}
source "$(dirname "${BASH_SOURCE[0]}")/../../ab_rounds.sh"
