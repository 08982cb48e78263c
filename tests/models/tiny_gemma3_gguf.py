"""Write a tiny KerasHub Gemma 3 model as a GGUF file the way llama.cpp does.

The test converter (`llama.cpp/convert_hf_to_gguf.py`, Gemma 3 branch) is
mimicked on the points the importer must undo: RMSNorm scales stored as
`1 + w`, Hugging Face `[out, in]` matrices (Q and K not permuted), the
vocabulary as `tokenizer.ggml.tokens/scores/token_type` with `<unk>` and the
turn markers typed CONTROL and U+2581 replaced by a space in the user-defined
whitespace pieces, and the `gemma3.*` metadata keys.
"""

import io

import gguf
import keras_hub
import numpy as np
import sentencepiece
from sentencepiece import sentencepiece_model_pb2

TRAINING_SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Water boils at 100 degrees Celsius at sea level.",
    "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>",
    "<start_of_turn>model\nThe capital of France is Paris.<end_of_turn>",
    "Keras models run on JAX, TensorFlow and PyTorch.",
    "def add(a, b):\n    return a + b",
    "Tokenizers split text into pieces; rare words fall back to bytes.",
    "She sells sea shells by the sea shore, and the shells are sea shells.",
]
CONTROL = sentencepiece_model_pb2.ModelProto.SentencePiece.CONTROL
USER_DEFINED = sentencepiece_model_pb2.ModelProto.SentencePiece.USER_DEFINED
UNKNOWN = sentencepiece_model_pb2.ModelProto.SentencePiece.UNKNOWN
TINY_CONFIG = {
    "image_size": None,
    "num_layers": 6,  # five local (sliding window) layers and one global one
    "num_query_heads": 2,
    "num_key_value_heads": 1,
    "hidden_dim": 32,
    "intermediate_dim": 64,
    "head_dim": 32,
    "query_head_dim_normalize": True,
    "use_query_key_norm": True,
    "use_post_ffw_norm": True,
    "use_post_attention_norm": True,
    "use_sliding_window_attention": True,
    "sliding_window_size": 4,
    "vision_encoder": None,
    "layer_norm_epsilon": 1e-6,
}


def train_tiny_sentencepiece():
    """A 360-piece SentencePiece BPE model with Gemma's settings (bytes)."""
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(TRAINING_SENTENCES * 4),
        model_writer=model,
        vocab_size=360,
        model_type="bpe",
        byte_fallback=True,
        split_digits=True,
        allow_whitespace_only_pieces=True,
        normalization_rule_name="identity",
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        pad_id=0,
        eos_id=1,
        bos_id=2,
        unk_id=3,
        pad_piece="<pad>",
        eos_piece="<eos>",
        bos_piece="<bos>",
        unk_piece="<unk>",
        user_defined_symbols=[
            "<start_of_turn>",
            "<end_of_turn>",
            "\n",
            "\u2581\u2581",
            "\u2581\u2581\u2581\u2581",
        ],
        hard_vocab_limit=False,
        minloglevel=2,
    )
    return model.getvalue()


def build_tiny_causal_lm(proto, *, seed=0, sequence_length=16):
    """A `Gemma3CausalLM` with random weights, norm scales included."""
    tokenizer = keras_hub.models.Gemma3Tokenizer(proto=proto, has_vision_tokens=False)
    backbone = keras_hub.models.Gemma3Backbone(
        vocabulary_size=tokenizer.vocabulary_size(), dtype="float32", **TINY_CONFIG
    )
    rng = np.random.default_rng(seed)
    for variable in backbone.weights:
        scale = 0.3 if variable.path.endswith("scale") else 0.2
        variable.assign(rng.normal(0.0, scale, variable.shape).astype("float32"))
    preprocessor = keras_hub.models.Gemma3CausalLMPreprocessor(
        tokenizer=tokenizer, sequence_length=sequence_length
    )
    return keras_hub.models.Gemma3CausalLM(backbone=backbone, preprocessor=preprocessor)


def llama_cpp_vocabulary(proto):
    """(tokens, scores, token_types) as llama.cpp stores a Gemma 3 vocabulary."""
    model = sentencepiece_model_pb2.ModelProto()
    model.ParseFromString(proto)
    tokens, scores, token_types = [], [], []
    for piece in model.pieces:
        text, token_type = piece.piece, piece.type
        if token_type == UNKNOWN or text in ("<start_of_turn>", "<end_of_turn>"):
            token_type = CONTROL
        if token_type == USER_DEFINED and set(text) == {"\u2581"}:
            text = text.replace("\u2581", " ")
        tokens.append(text)
        scores.append(-1000.0 if token_type == CONTROL else piece.score)
        token_types.append(token_type)
    return tokens, scores, token_types


def _hf_layout_tensors(backbone):
    """Yield (GGUF name, numpy array) in llama.cpp's layout."""

    def value(variable):
        return np.asarray(variable.numpy(), dtype=np.float32)

    def norm(variable):
        return value(variable) + 1.0

    yield "token_embd.weight", value(backbone.token_embedding.embeddings)
    for index in range(backbone.num_layers):
        block = backbone.get_layer(f"decoder_block_{index}")
        attention = block.attention
        prefix = f"blk.{index}"
        for name, dense in (
            ("attn_q", attention.query_dense),
            ("attn_k", attention.key_dense),
            ("attn_v", attention.value_dense),
        ):
            kernel = value(dense.kernel)  # [heads, hidden, head_dim]
            heads, hidden, head_dim = kernel.shape
            yield (
                f"{prefix}.{name}.weight",
                kernel.transpose(0, 2, 1).reshape(heads * head_dim, hidden),
            )
        kernel = value(attention.output_dense.kernel)  # [heads, head_dim, hidden]
        heads, head_dim, hidden = kernel.shape
        yield (
            f"{prefix}.attn_output.weight",
            kernel.transpose(2, 0, 1).reshape(hidden, heads * head_dim),
        )
        yield f"{prefix}.attn_q_norm.weight", norm(attention.query_norm.scale)
        yield f"{prefix}.attn_k_norm.weight", norm(attention.key_norm.scale)
        yield f"{prefix}.attn_norm.weight", norm(block.pre_attention_norm.scale)
        yield (
            f"{prefix}.post_attention_norm.weight",
            norm(block.post_attention_norm.scale),
        )
        yield f"{prefix}.ffn_norm.weight", norm(block.pre_ffw_norm.scale)
        yield f"{prefix}.post_ffw_norm.weight", norm(block.post_ffw_norm.scale)
        yield f"{prefix}.ffn_gate.weight", value(block.gating_ffw.kernel).T
        yield f"{prefix}.ffn_up.weight", value(block.gating_ffw_2.kernel).T
        yield f"{prefix}.ffn_down.weight", value(block.ffw_linear.kernel).T
    yield "output_norm.weight", norm(backbone.get_layer("final_normalization").scale)


def write_gemma3_gguf(
    causal_lm,
    path,
    *,
    architecture="gemma3",
    quantization=None,
    metadata=None,
    extra_tensors=None,
):
    """Write `causal_lm` as a llama.cpp-style Gemma 3 GGUF file.

    Args:
        causal_lm: a tiny `Gemma3CausalLM`.
        path: the output file.
        architecture: the `general.architecture` value and key prefix.
        quantization: a `gguf.GGMLQuantizationType` for the 2-D tensors, or
            `None` for float32.
        metadata: dict of extra `{key: value}` (ints, floats, str) to write.
        extra_tensors: dict of `{name: (raw array, GGMLQuantizationType)}`.
    """
    backbone = causal_lm.backbone
    attention = backbone.get_layer("decoder_block_0").attention
    writer = gguf.GGUFWriter(str(path), architecture)
    prefix = architecture
    writer.add_string("general.name", "tiny gemma3")
    writer.add_uint32(f"{prefix}.context_length", 128)
    writer.add_uint32(f"{prefix}.embedding_length", backbone.hidden_dim)
    writer.add_uint32(f"{prefix}.block_count", backbone.num_layers)
    writer.add_uint32(f"{prefix}.feed_forward_length", backbone.intermediate_dim)
    writer.add_uint32(f"{prefix}.attention.head_count", backbone.num_query_heads)
    writer.add_uint32(f"{prefix}.attention.head_count_kv", backbone.num_key_value_heads)
    writer.add_uint32(f"{prefix}.attention.key_length", attention.head_dim)
    writer.add_uint32(f"{prefix}.attention.value_length", attention.head_dim)
    writer.add_float32(
        f"{prefix}.attention.layer_norm_rms_epsilon", backbone.layer_norm_epsilon
    )
    writer.add_float32(f"{prefix}.rope.freq_base", 1_000_000.0)
    writer.add_uint32(
        f"{prefix}.attention.sliding_window", backbone.sliding_window_size
    )
    tokens, scores, token_types = llama_cpp_vocabulary(
        causal_lm.preprocessor.tokenizer.proto
    )
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(token_types)
    writer.add_bos_token_id(2)
    writer.add_eos_token_id(1)
    writer.add_unk_token_id(3)
    writer.add_pad_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_space_prefix(False)
    for key, value in (metadata or {}).items():
        if isinstance(value, str):
            writer.add_string(key, value)
        elif isinstance(value, float):
            writer.add_float32(key, value)
        else:
            writer.add_uint32(key, value)
    for name, array in _hf_layout_tensors(backbone):
        if quantization is not None and array.ndim == 2:
            writer.add_tensor(
                name, gguf.quants.quantize(array, quantization), raw_dtype=quantization
            )
        else:
            writer.add_tensor(name, np.ascontiguousarray(array, dtype=np.float32))
    for name, (array, raw_dtype) in (extra_tensors or {}).items():
        writer.add_tensor(name, array, raw_dtype=raw_dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
