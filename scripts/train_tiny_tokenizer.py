"""Train the small SentencePiece tokenizer shipped with the tiny presets.

The tiny presets (`tiny_gemma`, `tiny_gemma3`) need a real tokenizer so that
chat templates, masking and generation behave as with Gemma, but a small one
so the models stay tiny. This script trains a BPE model with Gemma's settings
(byte fallback, split digits, identity normalization, no dummy prefix, no
whitespace collapsing) and Gemma's special tokens on the text the package
ships: its built-in datasets and `tokenizer_corpus.txt`.

Usage:

    python scripts/train_tiny_tokenizer.py  # writes kerasalign/models/assets/tiny_tokenizer.model
"""

import argparse
import io
import json
import pathlib

import sentencepiece

ROOT = pathlib.Path(__file__).resolve().parents[1]
ASSETS = ROOT / "kerasalign" / "models" / "assets"
DATASETS = ROOT / "kerasalign" / "datasets" / "data"

# Ids 0-3 match Gemma's (pad 0, eos 1, bos 2, unk 3); the chat and image
# markers come right after as user-defined pieces, so they match as single
# tokens inside text.
USER_DEFINED_SYMBOLS = [
    "<mask>",
    "<start_of_turn>",
    "<end_of_turn>",
    "<start_of_image>",
    "<end_of_image>",
    "<img>",
    # Other chat formats' markers, so their templates also tokenize cleanly.
    "<|user|>",
    "<|assistant|>",
    "<|system|>",
    "<|end|>",
    "<|im_start|>",
    "<|im_end|>",
    "\n\n",
    "    ",
]


def corpus_lines():
    """Yield the training text: the shipped corpus and every dataset string."""
    for line in (ASSETS / "tokenizer_corpus.txt").read_text("utf-8").splitlines():
        if line.strip():
            yield line
    for path in sorted(DATASETS.glob("*.jsonl")):
        for raw in path.read_text("utf-8").splitlines():
            if not raw.strip():
                continue
            record = json.loads(raw)
            for key in ("prompt", "response", "chosen", "rejected"):
                if isinstance(record.get(key), str):
                    yield from record[key].splitlines()
            for value in (record.get("variables") or {}).values():
                if isinstance(value, str):
                    yield from value.splitlines()


def train(vocab_size):
    buffer = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=corpus_lines(),
        model_writer=buffer,
        model_type="bpe",
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        pad_id=0,
        eos_id=1,
        bos_id=2,
        unk_id=3,
        pad_piece="<pad>",
        eos_piece="<eos>",
        bos_piece="<bos>",
        unk_piece="<unk>",
        user_defined_symbols=USER_DEFINED_SYMBOLS,
        byte_fallback=True,
        split_digits=True,
        allow_whitespace_only_pieces=True,
        remove_extra_whitespaces=False,
        add_dummy_prefix=False,
        normalization_rule_name="identity",
        character_coverage=1.0,
        num_threads=2,
        minloglevel=2,
    )
    return buffer.getvalue()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--output", default=str(ASSETS / "tiny_tokenizer.model"))
    args = parser.parse_args()
    proto = train(args.vocab_size)
    pathlib.Path(args.output).write_bytes(proto)
    processor = sentencepiece.SentencePieceProcessor(model_proto=proto)
    print(f"wrote {args.output}: {processor.get_piece_size()} pieces")


if __name__ == "__main__":
    main()
