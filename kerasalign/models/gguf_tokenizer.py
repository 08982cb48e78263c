"""Rebuild the SentencePiece tokenizer of a Gemma 3 GGUF file.

llama.cpp stores the vocabulary as three parallel arrays
(`tokenizer.ggml.tokens`, `.scores`, `.token_type`) instead of the original
`tokenizer.model`. This module turns them back into a SentencePiece
`ModelProto` of type BPE (scores are negative merge ranks) with byte fallback,
whitespace-only pieces allowed, digits split, an identity normalizer, no dummy
prefix and no whitespace collapsing, and undoes three llama.cpp changes:

- `<unk>` is stored as CONTROL; SentencePiece needs it as UNKNOWN.
- `<start_of_turn>` and `<end_of_turn>` are stored as CONTROL; as CONTROL
  pieces SentencePiece would never produce them from text, so chat-formatted
  prompts would tokenize wrongly. They become USER_DEFINED, like in Gemma's
  `tokenizer.model`.
- the user-defined whitespace-run pieces (ids 138-167 in Gemma 3) had U+2581
  (the SentencePiece space marker) replaced with a plain space; a piece with
  a plain space never matches escaped text, so the marker is restored.

llama.cpp token types use SentencePiece's numbering (1 normal, 2 unknown,
3 control, 4 user-defined, 5 unused, 6 byte), so they are copied as is.
"""

from kerasalign.errors import PresetError

SPACE_MARKER = "\u2581"
# Control pieces that chat templates write in plain text.
TURN_PIECES = ("<start_of_turn>", "<end_of_turn>")


def sentencepiece_proto_from_gguf(gguf_file):
    """Serialize the SentencePiece `ModelProto` of a GGUF file's vocabulary.

    Args:
        gguf_file: `GGUFFile`. A GGUF file with a SentencePiece
            (`tokenizer.ggml.model == "llama"`) vocabulary.

    Returns:
        bytes. A serialized `sentencepiece_model_pb2.ModelProto`, ready for
        `keras_hub.models.Gemma3Tokenizer(proto=...)` or
        `sentencepiece.SentencePieceProcessor(model_proto=...)`.

    Examples:

    >>> proto = sentencepiece_proto_from_gguf(GGUFFile("model.gguf"))  # doctest: +SKIP
    >>> import sentencepiece
    >>> processor = sentencepiece.SentencePieceProcessor(model_proto=proto)  # doctest: +SKIP
    >>> processor.encode("<start_of_turn>user")  # doctest: +SKIP
    [105, 2364]
    """
    from sentencepiece import sentencepiece_model_pb2

    model_proto = sentencepiece_model_pb2.ModelProto
    pieces = gguf_file.value("tokenizer.ggml.tokens")
    scores = gguf_file.value("tokenizer.ggml.scores")
    token_types = gguf_file.value("tokenizer.ggml.token_type")
    if not len(pieces) == len(scores) == len(token_types):
        raise PresetError(
            f"{gguf_file.path}: tokenizer.ggml.tokens, .scores and .token_type "
            f"have different lengths ({len(pieces)}, {len(scores)}, "
            f"{len(token_types)})"
        )
    special_ids = {
        "unk": gguf_file.value("tokenizer.ggml.unknown_token_id", 3),
        "bos": gguf_file.value("tokenizer.ggml.bos_token_id", 2),
        "eos": gguf_file.value("tokenizer.ggml.eos_token_id", 1),
        "pad": gguf_file.value("tokenizer.ggml.padding_token_id", 0),
    }
    for name, token_id in special_ids.items():
        if not 0 <= token_id < len(pieces):
            raise PresetError(
                f"{gguf_file.path}: tokenizer.ggml.{name} id {token_id} is outside "
                f"the vocabulary of {len(pieces)} pieces"
            )

    proto = model_proto()
    trainer_spec = proto.trainer_spec
    trainer_spec.model_type = sentencepiece_model_pb2.TrainerSpec.BPE
    trainer_spec.vocab_size = len(pieces)
    trainer_spec.byte_fallback = True
    trainer_spec.allow_whitespace_only_pieces = True
    trainer_spec.split_digits = True
    trainer_spec.unk_id = special_ids["unk"]
    trainer_spec.bos_id = special_ids["bos"]
    trainer_spec.eos_id = special_ids["eos"]
    trainer_spec.pad_id = special_ids["pad"]
    trainer_spec.unk_piece = pieces[special_ids["unk"]]
    trainer_spec.bos_piece = pieces[special_ids["bos"]]
    trainer_spec.eos_piece = pieces[special_ids["eos"]]
    trainer_spec.pad_piece = pieces[special_ids["pad"]]
    for spec in (proto.normalizer_spec, proto.denormalizer_spec):
        spec.name = "identity"
        spec.add_dummy_prefix = False
        spec.remove_extra_whitespaces = False
        spec.escape_whitespaces = True

    piece_type = model_proto.SentencePiece
    known_types = set(piece_type.Type.values())
    for token_id, (piece, score, token_type) in enumerate(
        zip(pieces, scores, token_types, strict=True)
    ):
        if token_type == piece_type.USER_DEFINED and " " in piece:
            piece = piece.replace(" ", SPACE_MARKER)
        if token_id == special_ids["unk"]:
            token_type = piece_type.UNKNOWN
        elif piece in TURN_PIECES:
            token_type = piece_type.USER_DEFINED
        elif token_type not in known_types:
            raise PresetError(
                f"{gguf_file.path}: token {token_id} ({piece!r}) has unknown "
                f"token type {token_type}"
            )
        proto.pieces.add(piece=piece, score=float(score), type=token_type)
    return proto.SerializeToString()


def gemma3_tokenizer_from_gguf(gguf_file):
    """Build a KerasHub `Gemma3Tokenizer` from a Gemma 3 GGUF file.

    The tokenizer is text-only (`has_vision_tokens=False`) because the
    imported backbone has no vision encoder: with vision tokens, generation
    would strip `<img>` (an ordinary HTML piece in Gemma's vocabulary) from
    the output text.

    Args:
        gguf_file: `GGUFFile`. An opened Gemma 3 GGUF file.

    Returns:
        `keras_hub.models.Gemma3Tokenizer`.

    Examples:

    >>> tokenizer = gemma3_tokenizer_from_gguf(GGUFFile("model.gguf"))  # doctest: +SKIP
    >>> tokenizer.start_token_id, tokenizer.end_token_id  # doctest: +SKIP
    (2, 1)
    """
    import keras_hub

    proto = sentencepiece_proto_from_gguf(gguf_file)
    try:
        return keras_hub.models.Gemma3Tokenizer(proto=proto, has_vision_tokens=False)
    except ValueError as error:
        raise PresetError(
            f"{gguf_file.path}: the vocabulary does not make a Gemma 3 tokenizer "
            f"({error})"
        ) from error
