"""The quick run's SFT stage and its 20 + 20-prompt evaluation, one run per setting.

    GLIBC_TUNABLES=$(python -m kerasalign.cpu_malloc) \
        python sft_runs.py OUT 0:constant:2e-4 0:linear:2e-4 1:linear:4e-4 ...

Each argument is SEED:SCHEDULE:PEAK_LEARNING_RATE; each run writes OUT/seedS_SCHEDULE_PEAK/
(the `sft` and `sft_eval` stages of `kerasalign align --quick`, with the same settings
otherwise). JAX, like the `kerasalign` command (GLIBC_TUNABLES as the command sets it).
"""

import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import kerasalign  # noqa: E402
from kerasalign.align import AlignJob, AlignSettings, StageRunner  # noqa: E402

kerasalign.enable_persistent_compile_cache()
output = sys.argv[1]
for argument in sys.argv[2:]:
    seed, schedule, peak = argument.split(":")
    settings = AlignSettings.for_run(
        "gemma3_270m_gguf", quick=True, seed=int(seed), lr_schedule=schedule,
        sft_learning_rate=float(peak),
    )
    job = AlignJob(settings, f"{output}/seed{seed}_{schedule}_{peak}", verbose=2)
    stages = [stage for stage in job.stages() if stage.name in ("sft", "sft_eval")]
    start = time.time()
    results = StageRunner(job.output_dir, log=print).run(stages)
    print("RESULT", argument, round(time.time() - start), json.dumps(results["sft_eval"]["summary"]))
