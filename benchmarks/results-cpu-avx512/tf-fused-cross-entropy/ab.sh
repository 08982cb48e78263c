cd /work/main
FILES="kerasalign/trainers/logprobs.py kerasalign/trainers/chunked_token_loss.py kerasalign/eval/perplexity.py kerasalign/debug/embedding_forward.py"
bench() { # $1 label
  .venv/bin/python benchmarks/run.py --config small --tasks sft --repeats 1 --steps 3 --warmup 1 \
    --variants trl-bf16-noremat,kerasalign-tensorflow-bf16-chunk192,kerasalign-tensorflow-chunk192 --output /tmp/ab/$1/sft > /tmp/ab/$1.sft.log 2>&1
  .venv/bin/python benchmarks/run.py --config small --tasks dpo --repeats 1 --steps 3 --warmup 1 \
    --variants trl-bf16-noremat,kerasalign-tensorflow-bf16 --output /tmp/ab/$1/dpo > /tmp/ab/$1.dpo.log 2>&1
}
before() { for f in $FILES; do git show 3877fd4:$f > $f; done; }
after() { git checkout HEAD -- $FILES; }
after; bench after1
before; bench before1
after; bench after2
before; bench before2
after
git status --short > /tmp/ab/status.txt
echo done > /tmp/ab/finished
