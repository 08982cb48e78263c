"""Arguments shared by commands that load a model: --preset, --adapter, ..."""


def add_model_arguments(parser, *, preset_required=True, default_preset=None):
    parser.add_argument(
        "--preset",
        required=preset_required,
        default=default_preset,
        help="built-in name (tiny_gemma, tiny_gemma3, gemma3_270m_gguf), KerasHub "
        "preset, kaggle:// or hf:// handle, preset directory or .gguf file",
    )
    parser.add_argument("--adapter", help="a LoRA adapter directory to load")
    parser.add_argument("--sequence-length", type=int, default=None)
    parser.add_argument("--dtype", default=None, help="e.g. float32, bfloat16")


def load_model_from_args(args, **kwargs):
    """Load `args.preset` (and `args.adapter`) as a CausalLM."""
    from kerasalign.cli.quiet import silence_native_stderr
    from kerasalign.models import load_adapter, load_causal_lm

    with silence_native_stderr():
        model = load_causal_lm(
            args.preset, sequence_length=args.sequence_length, dtype=args.dtype, **kwargs
        )
    if getattr(args, "adapter", None):
        load_adapter(model, args.adapter)
    return model
