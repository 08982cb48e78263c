"""One benchmark run of TRL + PEFT (PyTorch, CPU) on the same architecture and token ids.

Run by `benchmarks/run.py` in a fresh process; writes one JSON result.
Needs the `bench` extra: `pip install "kerasalign[bench]"`.

How the same token ids reach TRL:
- SFT: a pre-tokenized dataset (`input_ids`, and `labels` with -100 on
  prompt tokens), which `SFTTrainer` uses as is.
- Reward model: `RewardTrainer` takes pre-tokenized `chosen_ids` /
  `rejected_ids`.
- DPO: TRL 1.16's `DPOTrainer` tokenizes text itself, so each id is written
  as a word `t<id>` and a word-level tokenizer maps it back to the same id
  (DPO appends the end-of-sequence token, which the data already reserves).
  Reference log-probs are precomputed (`precompute_ref_log_probs=True`) by
  the base model with the adapter disabled, as kerasalign does.

Gradient checkpointing: TRL 1.x turns it on in every trainer's config
(`gradient_checkpointing=True` by default), trading ~20% speed for memory.
`--gradient-checkpointing on` (the default) keeps TRL's default;
`off` gives the faster, larger-memory run to compare with kerasalign rows
that do not recompute activations.

    python benchmarks/trl_worker.py --data data.npz --config small --task sft --out r.json
"""

import argparse
import logging
import os
import sys
import tempfile
import time
import warnings

BENCHMARKS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCHMARKS)

import common  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--config", required=True, choices=sorted(common.CONFIGS))
    parser.add_argument("--task", default="sft", choices=["sft", "dpo", "reward"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "mixed_bfloat16"])
    parser.add_argument(
        "--gradient-checkpointing", default="on", choices=["on", "off"],
        help="on: TRL's default; off: keep activations for the backward pass",
    )
    parser.add_argument("--out", required=True)
    return parser.parse_args(argv)


def word_tokenizer(vocabulary_size):
    """A Hugging Face tokenizer whose word `t<i>` is token id `i`."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    special = {"<pad>": common.PAD_ID, "<eos>": common.EOS_ID, "<bos>": common.BOS_ID}
    vocabulary = dict(special)
    vocabulary.update(
        {f"t{i}": i for i in range(common.FIRST_ORDINARY_ID, vocabulary_size)}
    )
    model = Tokenizer(models.WordLevel(vocab=vocabulary, unk_token="<pad>"))
    model.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=model, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>"
    )
    tokenizer.add_special_tokens({"additional_special_tokens": list(special)})
    return tokenizer


def hf_config(config, task, dtype):
    import transformers

    common_args = {
        "vocab_size": config["vocabulary_size"],
        "hidden_size": config["hidden_dim"],
        "intermediate_size": config["intermediate_size"],
        "num_hidden_layers": config["num_layers"],
        "num_attention_heads": config["num_query_heads"],
        "num_key_value_heads": config["num_key_value_heads"],
        "head_dim": config["head_dim"],
        "pad_token_id": common.PAD_ID,
        "eos_token_id": common.EOS_ID,
        "bos_token_id": common.BOS_ID,
        "tie_word_embeddings": True,
        "dtype": "float32" if dtype == "mixed_bfloat16" else dtype,
    }
    if task == "reward":
        common_args["num_labels"] = 1
    if config["family"] == "gemma":
        return transformers.GemmaConfig(**common_args)
    return transformers.Gemma3TextConfig(
        sliding_window=config["sliding_window"],
        query_pre_attn_scalar=config["head_dim"],
        rms_norm_eps=1e-6,
        **common_args,
    )


def build_model(config, task, dtype):
    import torch
    import transformers

    torch.manual_seed(0)
    hf = hf_config(config, task, dtype)
    if task == "reward":
        classes = {
            "gemma": transformers.GemmaForSequenceClassification,
            "gemma3": transformers.Gemma3TextForSequenceClassification,
        }
    else:
        classes = {
            "gemma": transformers.GemmaForCausalLM,
            "gemma3": transformers.Gemma3ForCausalLM,
        }
    # mixed_bfloat16: float32 weights, bfloat16 compute through autocast.
    weights = "float32" if dtype == "mixed_bfloat16" else dtype
    return classes[config["family"]](hf).to(getattr(torch, weights))


def lora_config(rank, task):
    import peft

    return peft.LoraConfig(
        r=rank,
        lora_alpha=rank,
        lora_dropout=0.0,
        target_modules=["q_proj", "v_proj"],
        task_type="SEQ_CLS" if task == "reward" else "CAUSAL_LM",
    )


def step_timer_callback(timer):
    import transformers

    class StepTiming(transformers.TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            timer.begin()

        def on_step_end(self, args, state, control, **kwargs):
            timer.step_done()

    return StepTiming()


def common_training_args(args, output_dir):
    return {
        "output_dir": output_dir,
        "per_device_train_batch_size": args.batch_size,
        "max_steps": args.warmup + args.steps,
        "gradient_checkpointing": args.gradient_checkpointing == "on",
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "logging_steps": 10**6,
        "save_strategy": "no",
        "report_to": "none",
        "use_cpu": True,
        "dataloader_num_workers": 0,
        "disable_tqdm": True,
        "seed": 0,
        "bf16": args.dtype in ("bfloat16", "mixed_bfloat16"),
    }


def run(args):
    import datasets
    import numpy as np
    import torch
    import transformers
    import trl

    config = common.CONFIGS[args.config]
    data = dict(np.load(args.data))
    rows = (args.warmup + args.steps) * args.batch_size
    timer = common.StepTimer()
    setup_start = time.perf_counter()
    model = build_model(config, args.task, args.dtype)
    tokenizer = word_tokenizer(config["vocabulary_size"])
    output_dir = tempfile.mkdtemp(prefix="kerasalign-bench-trl-")
    training = common_training_args(args, output_dir)
    callbacks = [step_timer_callback(timer)]
    extra = {}
    if args.task == "sft":
        # Labels are the inputs (the model shifts them); rows keep their own
        # length and the collator pads each batch to its longest row.
        lengths = common.row_lengths(data)[:rows] - 1
        token_ids = data["token_ids"][:rows, :-1]
        labels = np.where(data["response_mask"][:rows, :-1] == 1, token_ids, -100)
        dataset = datasets.Dataset.from_dict(
            {
                "input_ids": [
                    ids[:n].tolist() for ids, n in zip(token_ids, lengths, strict=True)
                ],
                "labels": [
                    ids[:n].tolist() for ids, n in zip(labels, lengths, strict=True)
                ],
            }
        )
        sequence_length = token_ids.shape[1]
        sequences_per_step = args.batch_size
        real_tokens = int(lengths.sum())
        trainer = trl.SFTTrainer(
            model=model,
            args=trl.SFTConfig(
                learning_rate=2e-4,
                max_length=sequence_length,
                packing=False,
                shuffle_dataset=False,
                **training,
            ),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora_config(args.lora_rank, args.task),
            callbacks=callbacks,
        )
        flops_per_token = common.training_flops_per_token(config, sequence_length)
    elif args.task == "reward":
        real_tokens = 0
        prompt = data["prompt_ids"][:rows]
        chosen = np.concatenate([prompt, data["chosen_ids"][:rows]], axis=1)
        rejected = np.concatenate([prompt, data["rejected_ids"][:rows]], axis=1)
        dataset = datasets.Dataset.from_dict(
            {"chosen_ids": chosen.tolist(), "rejected_ids": rejected.tolist()}
        )
        sequence_length = chosen.shape[1]
        sequences_per_step = 2 * args.batch_size
        trainer = trl.RewardTrainer(
            model=model,
            args=trl.RewardConfig(
                learning_rate=1e-4, max_length=sequence_length, **training
            ),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora_config(args.lora_rank, args.task),
            callbacks=callbacks,
        )
        no_head = dict(config, vocabulary_size=0)
        flops_per_token = common.training_flops_per_token(no_head, sequence_length)
    else:
        real_tokens = 0

        def words(ids):
            return " ".join(f"t{i}" if i != common.BOS_ID else "<bos>" for i in ids)

        prompt = data["prompt_ids"][:rows]
        # DPO appends the end-of-sequence token to each response itself.
        dataset = datasets.Dataset.from_dict(
            {
                "prompt": [words(ids) + " " for ids in prompt],
                "chosen": [words(ids[:-1]) for ids in data["chosen_ids"][:rows]],
                "rejected": [words(ids[:-1]) for ids in data["rejected_ids"][:rows]],
            }
        )
        sequence_length = prompt.shape[1] + data["chosen_ids"].shape[1]
        sequences_per_step = 2 * args.batch_size
        start = time.perf_counter()
        trainer = trl.DPOTrainer(
            model=model,
            args=trl.DPOConfig(
                learning_rate=5e-5,
                beta=0.1,
                max_length=sequence_length,
                precompute_ref_log_probs=True,
                precompute_ref_batch_size=args.batch_size,
                **training,
            ),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora_config(args.lora_rank, args.task),
            callbacks=callbacks,
        )
        # TRL precomputes the reference log-probs while building the trainer.
        extra["reference_seconds"] = time.perf_counter() - start
        first = trainer.train_dataset[0]
        expected = [int(i) for i in prompt[0]]
        if (
            list(first["prompt_ids"]) != expected
            or len(first["chosen_ids"]) != data["chosen_ids"].shape[1]
        ):
            raise SystemExit("the DPO dataset does not hold the benchmark's token ids")
        flops_per_token = common.training_flops_per_token(config, sequence_length)
    setup_seconds = time.perf_counter() - setup_start
    trainer.train()
    tokens_per_step = sequences_per_step * sequence_length
    mixed = args.task == "sft" and real_tokens < rows * sequence_length
    if mixed:
        tokens_per_step = real_tokens / (args.warmup + args.steps)
    result = common.summarise(
        timer.step_seconds(),
        args.warmup,
        tokens_per_step,
        flops_per_token * tokens_per_step,
        setup_seconds,
        mean_based=mixed,
    )
    result.update(extra)
    result.update(
        {
            "framework": "trl",
            "backend": "torch",
            "task": args.task,
            "config": args.config,
            "dtype": args.dtype,
            "quantize": None,
            "batch_size": args.batch_size,
            "sequence_length": sequence_length,
            "tokens_per_step": tokens_per_step,
            "flops_per_step": flops_per_token * tokens_per_step,
            "trainable_parameters": int(
                sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
            ),
            # As the model ran, not as asked.
            "gradient_checkpointing": bool(
                getattr(
                    trainer.model,
                    "is_gradient_checkpointing",
                    trainer.args.gradient_checkpointing,
                )
            ),
            "attention_implementation": getattr(
                model.config, "_attn_implementation", None
            ),
            "torch_threads": torch.get_num_threads(),
            "transformers": transformers.__version__,
            "step_seconds": timer.step_seconds(),
        }
    )
    return result


def main(argv=None):
    warnings.filterwarnings("ignore")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    os.environ.setdefault("TQDM_DISABLE", "1")
    args = parse_args(argv)
    common.write_result(args.out, run(args))


if __name__ == "__main__":
    main()
