cd /work/main
FILES="kerasalign/trainers/logprobs.py kerasalign/trainers/chunked_token_loss.py kerasalign/eval/perplexity.py kerasalign/debug/embedding_forward.py"
bench() {
  .venv/bin/python benchmarks/run.py --config gemma3_270m --tasks sft --batch-size 4 --repeats 1 --steps 2 --warmup 1 \
    --variants kerasalign-tensorflow-bf16-chunk128 --output /tmp/ab270/$1 > /tmp/ab270/$1.log 2>&1
}
before() { for f in $FILES; do git show 3877fd4:$f > $f; done; }
after() { git checkout HEAD -- $FILES; }
after; bench after1
before; bench before1
after; bench after2
before; bench before2
after
git status --short > /tmp/ab270/status.txt
echo done > /tmp/ab270/finished
