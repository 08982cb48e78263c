"""One benchmark run of kerasalign (or plain KerasHub) on one Keras backend.

Run by `benchmarks/run.py` in a fresh process (the backend is fixed when
Keras is imported); writes one JSON result.

    KERAS_BACKEND=jax python benchmarks/keras_worker.py --data data.npz \
        --config small --task sft --framework kerasalign --out result.json
"""

import argparse
import os
import sys
import time

BENCHMARKS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(BENCHMARKS))
sys.path.insert(0, BENCHMARKS)

import common  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--config", required=True, choices=sorted(common.CONFIGS))
    parser.add_argument("--task", default="sft", choices=["sft", "dpo", "reward"])
    parser.add_argument(
        "--framework", default="kerasalign", choices=["kerasalign", "keras_hub"]
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--quantize", default=None, choices=[None, "int8"])
    parser.add_argument(
        "--jit-compile", default="auto", choices=["auto", "true", "false"]
    )
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument(
        "--bucket", type=int, default=None, help="SFT: LengthBuckets(multiple=N)"
    )
    parser.add_argument(
        "--remat", action="store_true",
        help="decoder blocks (and, with --chunk-size, logits chunks) recomputed in the backward pass",
    )
    parser.add_argument(
        "--xla-schedule", default=None, choices=["memory", "concurrency"],
        help="XLA's CPU scheduler on JAX: memory (what `import kerasalign` sets) or "
        "concurrency (XLA's default); default: memory for kerasalign, concurrency "
        "for plain KerasHub",
    )
    parser.add_argument(
        "--profile", default=None, metavar="DIR",
        help="JAX: trace the first step after warm-up into DIR (that step then counts "
        "as warm-up) and add an XLA op summary (benchmarks/op_profile.py) to the result",
    )
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.profile and os.environ.get("KERAS_BACKEND", "jax") != "jax":
        parser.error("--profile reads a JAX profiler trace: run with KERAS_BACKEND=jax")
    if args.profile and args.bucket:
        parser.error("--profile traces one step of one shape: leave out --bucket")
    if args.xla_schedule is None:
        args.xla_schedule = "memory" if args.framework == "kerasalign" else "concurrency"
    return args


def set_xla_schedule(schedule):
    """Before JAX starts: keep kerasalign's memory-first CPU schedule or restore XLA's.

    Importing kerasalign (below) adds `--<FLAG>=false` on JAX; `concurrency`
    replaces it with XLA's default, `=true`, which kerasalign then leaves alone.
    Returns the flag's value in effect (`None` off JAX or with an old jaxlib).
    """
    from kerasalign import xla_cpu_schedule

    flag = f"--{xla_cpu_schedule.FLAG}"
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(flag)]
    applies = xla_cpu_schedule.flag_applies()
    if applies:
        flags.append(f"{flag}={'true' if schedule == 'concurrency' else 'false'}")
    os.environ["XLA_FLAGS"] = " ".join(flags)
    return schedule if applies else None


def build_causal_lm(config, dtype, with_preprocessor=True):
    """A randomly initialised KerasHub CausalLM of the given architecture.

    `with_preprocessor=False` leaves the tokenizer out (SFT and DPO feed token
    ids), so the worker also runs where TensorFlow Text is not installed.
    """
    import keras_hub

    from kerasalign.models.tiny_presets import TOKENIZER_PATH

    common_args = {
        "vocabulary_size": config["vocabulary_size"],
        "num_layers": config["num_layers"],
        "num_query_heads": config["num_query_heads"],
        "num_key_value_heads": config["num_key_value_heads"],
        "hidden_dim": config["hidden_dim"],
        "head_dim": config["head_dim"],
        "dtype": dtype,
    }
    if config["family"] == "gemma":
        # KerasHub's Gemma halves intermediate_dim (two gating kernels).
        backbone = keras_hub.models.GemmaBackbone(
            intermediate_dim=2 * config["intermediate_size"], **common_args
        )
        preprocessor_class = keras_hub.models.GemmaCausalLMPreprocessor
        tokenizer_class = keras_hub.models.GemmaTokenizer
        tokenizer_args = {}
        model_class = keras_hub.models.GemmaCausalLM
    else:
        backbone = keras_hub.models.Gemma3Backbone(
            intermediate_dim=config["intermediate_size"],
            image_size=None,
            vision_encoder=None,
            query_head_dim_normalize=True,
            use_query_key_norm=True,
            use_post_ffw_norm=True,
            use_post_attention_norm=True,
            use_sliding_window_attention=config["sliding_window"] is not None,
            sliding_window_size=config["sliding_window"] or 1024,
            layer_norm_epsilon=1e-6,
            **common_args,
        )
        preprocessor_class = keras_hub.models.Gemma3CausalLMPreprocessor
        tokenizer_class = keras_hub.models.Gemma3Tokenizer
        tokenizer_args = {"has_vision_tokens": False}
        model_class = keras_hub.models.Gemma3CausalLM
    preprocessor = None
    if with_preprocessor:
        tokenizer = tokenizer_class(proto=str(TOKENIZER_PATH), **tokenizer_args)
        preprocessor = preprocessor_class(tokenizer=tokenizer)
    # The preprocessor (a small tokenizer) is only there for classes that
    # need one (RewardModel); the benchmark feeds token ids.
    return model_class(backbone=backbone, preprocessor=preprocessor)


def timing_callback(timer, profile_step=None, profile_dir=None):
    """Times each step; traces step `profile_step` into `profile_dir` (JAX)."""
    import keras

    class StepTiming(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            timer.begin()

        def on_train_batch_begin(self, batch, logs=None):
            if profile_dir and len(timer.ends) == profile_step:
                import jax

                jax.profiler.start_trace(profile_dir)

        def on_train_batch_end(self, batch, logs=None):
            # Reading the loss waits for the step to finish (JAX dispatches
            # asynchronously), so each time covers exactly one step.
            float((logs or {}).get("loss", 0.0))
            timer.step_done()
            if profile_dir and len(timer.ends) == profile_step + 1:
                import jax

                jax.profiler.stop_trace()

    return StepTiming()


def jit_compile_value(text):
    return {"auto": "auto", "true": True, "false": False}[text]


def sft_inputs(data, rows):
    import numpy as np

    token_ids = data["token_ids"][:rows]
    input_lengths = common.row_lengths(data)[:rows] - 1
    positions = np.arange(token_ids.shape[1] - 1)[None, :]
    x = {
        "token_ids": token_ids[:, :-1],
        "padding_mask": positions < input_lengths[:, None],
    }
    return x, token_ids[:, 1:], data["response_mask"][:rows, 1:].astype("float32")


def preference_inputs(data, rows):
    import numpy as np

    prompt = data["prompt_ids"][:rows]
    batch = {}
    for side in ("chosen", "rejected"):
        token_ids = np.concatenate([prompt, data[f"{side}_ids"][:rows]], axis=1)
        response_mask = np.zeros_like(token_ids, dtype=bool)
        response_mask[:, prompt.shape[1] :] = True
        batch[f"{side}_token_ids"] = token_ids
        batch[f"{side}_padding_mask"] = np.ones_like(token_ids, dtype=bool)
        batch[f"{side}_response_mask"] = response_mask
    batch["margin"] = np.zeros((rows,), "float32")
    return batch


def run(args):
    import keras
    import numpy as np

    from kerasalign.models import lora
    from kerasalign.models.quantization import quantize_int8
    from kerasalign.models.remat import decoder_block_remat_scope

    config = common.CONFIGS[args.config]
    data = dict(np.load(args.data))
    keras.utils.set_random_seed(0)
    setup_start = time.perf_counter()
    with decoder_block_remat_scope(args.remat):
        causal_lm = build_causal_lm(
            config, args.dtype, with_preprocessor=args.task == "reward"
        )
    if args.quantize == "int8":
        quantize_int8(causal_lm)
    rows = (args.warmup + args.steps) * args.batch_size
    jit_compile = jit_compile_value(args.jit_compile)
    timer = common.StepTimer()
    fit_args = {
        "batch_size": args.batch_size,
        "epochs": 1,
        "shuffle": False,
        "verbose": 0,
        "callbacks": [timing_callback(timer, args.warmup, args.profile)],
    }
    extra = {}
    # The profiled step (the first after warm-up) runs under the tracer: not timed.
    warmup = args.warmup + (1 if args.profile else 0)
    # -remat recomputes the logits chunks too, when there are chunks.
    logits_remat = args.remat and bool(args.chunk_size)
    if args.task == "sft":
        sequence_length = data["token_ids"].shape[1] - 1
        sequences_per_step = args.batch_size
        x, y, sample_weight = sft_inputs(data, rows)
        if args.framework == "keras_hub":
            causal_lm.backbone.enable_lora(
                args.lora_rank, target_layer_names=["query", "value"]
            )
            causal_lm.compile(
                optimizer=keras.optimizers.AdamW(learning_rate=2e-4, weight_decay=0.0),
                jit_compile=jit_compile,
            )
            trainer = causal_lm
        else:
            from kerasalign.trainers.sft_trainer import SFTTrainer

            lora.enable_lora(causal_lm, args.lora_rank)
            trainer = SFTTrainer(
                causal_lm, chunk_size=args.chunk_size, remat=logits_remat
            )
            if args.chunk_size:
                from kerasalign.data.sft_preprocessor import loss_positions

                # As `kerasalign align` trains: logits at response positions only.
                x = {**x, "loss_positions": loss_positions(sample_weight)}
            trainer.compile(learning_rate=2e-4, jit_compile=jit_compile)
        setup_seconds = time.perf_counter() - setup_start
        real_tokens = int(x["padding_mask"].sum())
        if args.bucket:
            from kerasalign.data.length_buckets import LengthBuckets

            batches = LengthBuckets(
                x, y, sample_weight, batch_size=args.batch_size, multiple=args.bucket
            )
            extra["padding_fraction"] = batches.padding_fraction()
            fit_args.pop("batch_size")
            # Each bucket shape compiles once: the first epoch is the warm-up
            # (it compiles every shape) and the second is timed.
            fit_args["epochs"] = 2
            warmup = len(batches)
            trainer.fit(batches.keras_input(), **fit_args)
        else:
            extra["padding_fraction"] = 1.0 - real_tokens / x["padding_mask"].size
            trainer.fit(x, y, sample_weight=sample_weight, **fit_args)
        flops_per_token = common.training_flops_per_token(config, sequence_length)
    else:
        if args.framework != "kerasalign":
            raise SystemExit("plain KerasHub has no DPO or reward-model training")
        real_tokens = 0
        from kerasalign.trainers.dpo_trainer import DPOTrainer
        from kerasalign.trainers.reward_model import RewardModel

        lora.enable_lora(causal_lm, args.lora_rank)
        x = preference_inputs(data, rows)
        sequence_length = x["chosen_token_ids"].shape[1]
        sequences_per_step = 2 * args.batch_size
        if args.task == "dpo":
            trainer = DPOTrainer(
                causal_lm, chunk_size=args.chunk_size, remat=logits_remat
            )
            trainer.compile(learning_rate=5e-5, jit_compile=jit_compile)
            start = time.perf_counter()
            x = trainer.precompute_reference_logprobs(x, batch_size=args.batch_size)
            extra["reference_seconds"] = time.perf_counter() - start
            flops_per_token = common.training_flops_per_token(config, sequence_length)
        else:
            trainer = RewardModel(causal_lm, sequence_length=sequence_length)
            trainer.compile(learning_rate=1e-4, jit_compile=jit_compile)
            # A reward model does not use the output layer.
            no_head = dict(config, vocabulary_size=0)
            flops_per_token = common.training_flops_per_token(no_head, sequence_length)
        setup_seconds = time.perf_counter() - setup_start
        trainer.fit(x, **fit_args)
    tokens_per_step = sequences_per_step * sequence_length
    mixed = args.task == "sft" and real_tokens < x["padding_mask"].size
    if mixed:
        tokens_per_step = real_tokens / (args.warmup + args.steps)
    result = common.summarise(
        timer.step_seconds(),
        warmup,
        tokens_per_step,
        flops_per_token * tokens_per_step,
        setup_seconds,
        mean_based=mixed,
    )
    result.update(extra)
    if args.profile:
        import op_profile

        result["op_profile"] = op_profile.summarise_trace(args.profile)
    result.update(
        {
            "framework": args.framework,
            "backend": keras.config.backend(),
            "task": args.task,
            "config": args.config,
            "dtype": args.dtype,
            "quantize": args.quantize,
            "jit_compile": args.jit_compile,
            "chunk_size": args.chunk_size,
            "bucket": args.bucket,
            "remat": args.remat,
            "xla_schedule": args.xla_schedule,
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "batch_size": args.batch_size,
            "sequence_length": sequence_length,
            "tokens_per_step": tokens_per_step,
            "flops_per_step": flops_per_token * tokens_per_step,
            "trainable_parameters": int(
                sum(np.prod(w.shape) for w in trainer.trainable_weights)
            ),
            "step_seconds": timer.step_seconds(),
        }
    )
    return result


def main(argv=None):
    args = parse_args(argv)
    args.xla_schedule = set_xla_schedule(args.xla_schedule)
    common.write_result(args.out, run(args))


if __name__ == "__main__":
    main()
