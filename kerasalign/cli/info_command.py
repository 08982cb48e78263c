"""`kerasalign info`: versions, backend, devices and available presets."""

import os
import platform


def register(subparsers, common):
    parser = subparsers.add_parser(
        "info", parents=[common], help="show versions, backend, devices and presets"
    )
    parser.set_defaults(handler=run)


def run(args):
    import keras
    import keras_hub

    import kerasalign
    from kerasalign.models import builtin_presets, official_gemma_presets

    devices = []
    try:
        from keras import distribution

        devices = [str(device) for device in distribution.list_devices()]
    except Exception as error:  # device listing is informative only
        devices = [f"unavailable ({type(error).__name__})"]
    result = {
        "kerasalign": kerasalign.__version__,
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
        "backend": keras.config.backend(),
        "python": platform.python_version(),
        "devices": devices,
        # XLA_FLAGS as JAX saw it: kerasalign adds its memory-first CPU schedule.
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        # The kerasalign command sets it on CPU-only Linux hosts (kerasalign.cpu_malloc).
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
        "builtin_presets": builtin_presets(),
        "official_gemma_presets": official_gemma_presets(),
        "templates": kerasalign.templates.available(),
    }
    print(f"kerasalign {result['kerasalign']} (keras {result['keras']}, keras-hub {result['keras_hub']})")
    print(f"backend: {result['backend']}   devices: {', '.join(devices)}")
    if result["xla_flags"]:
        print(f"XLA_FLAGS: {result['xla_flags']}")
    if result["glibc_tunables"]:
        print(f"GLIBC_TUNABLES: {result['glibc_tunables']}")
    print("built-in presets:")
    for name, description in result["builtin_presets"].items():
        print(f"  {name:<18} {description}")
    print(f"official Gemma presets: {len(result['official_gemma_presets'])} (kerasalign info --json lists them)")
    print(f"templates: {', '.join(result['templates'])}")
    return result
