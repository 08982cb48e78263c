"""Evaluate SFT adapters made by sft_runs.py on all 260 held-out prompts, 64 new tokens.

    python eval_held_out.py OUT/seed0_constant_2e-4 OUT/seed0_linear_2e-4 ...

The full run's evaluation settings (131 harmful, 129 benign prompts, greedy, batches of 64);
each writes RUN/full_eval/eval.json.
"""

import json
import os
import pathlib
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import kerasalign  # noqa: E402
from kerasalign.align import AlignJob, AlignSettings  # noqa: E402

kerasalign.enable_persistent_compile_cache()
for name in sys.argv[1:]:
    run = pathlib.Path(name)
    target = run / "full_eval"
    settings = AlignSettings.for_run("gemma3_270m_gguf", quick=True, max_new_tokens=64)
    settings.eval_limit = None  # every held-out prompt (for_run skips None overrides)
    target.mkdir(exist_ok=True)
    start = time.time()
    AlignJob(settings, run, verbose=0)._evaluate("sft")(target, {})
    summary = json.loads((target / "eval.json").read_text())["summary"]
    print("FULL", name, round(time.time() - start), json.dumps(summary))
