"""The model cache: atomic entries, completion markers, remembered hashes."""

import doctest
import hashlib
import json
import os

import keras
import pytest

from kerasalign.models import gguf_weights, model_cache, skip_initialization
from kerasalign.models.skip_initialization import skip_random_initialization

METADATA = {"source_sha256": "abc", "dtype": "float32"}


def save_two_files(directory):
    with open(os.path.join(directory, "config.json"), "w") as handle:
        handle.write("{}")
    os.makedirs(os.path.join(directory, "assets"))
    with open(os.path.join(directory, "assets", "vocabulary.spm"), "wb") as handle:
        handle.write(b"x" * 100)


def test_write_entry_is_complete_and_leaves_no_temporary(tmp_path):
    entry_dir = str(tmp_path / "entry")
    assert model_cache.write_entry(entry_dir, save_two_files, METADATA)
    assert model_cache.is_complete_entry(entry_dir, METADATA)
    assert sorted(os.listdir(tmp_path)) == ["entry"]
    with open(os.path.join(entry_dir, model_cache.MARKER_NAME)) as handle:
        marker = json.load(handle)
    assert marker["files"] == {
        "config.json": 2,
        os.path.join("assets", "vocabulary.spm"): 100,
    }
    assert not model_cache.is_complete_entry(
        entry_dir, dict(METADATA, dtype="bfloat16")
    )


def test_failed_save_leaves_nothing_behind(tmp_path):
    def failing_save(directory):
        save_two_files(directory)
        raise RuntimeError("disk full")

    entry_dir = str(tmp_path / "entry")
    with pytest.warns(UserWarning, match="disk full"):
        assert not model_cache.write_entry(entry_dir, failing_save, METADATA)
    assert os.listdir(tmp_path) == []


def test_incomplete_entry_is_replaced(tmp_path):
    entry_dir = tmp_path / "entry"
    entry_dir.mkdir()
    (entry_dir / "config.json").write_text("half written")
    assert not model_cache.is_complete_entry(str(entry_dir), METADATA)
    assert model_cache.write_entry(str(entry_dir), save_two_files, METADATA)
    assert (entry_dir / "config.json").read_text() == "{}"


def test_entry_completed_by_another_process_is_kept(tmp_path):
    entry_dir = str(tmp_path / "entry")
    assert model_cache.write_entry(entry_dir, save_two_files, METADATA)

    def slower_writer(directory):
        save_two_files(directory)
        with open(os.path.join(directory, "config.json"), "w") as handle:
            handle.write("{ }")

    # The entry appeared while this writer was saving: its rename fails and
    # the complete entry stays as it was.
    assert not model_cache.write_entry(entry_dir, slower_writer, METADATA)
    assert (tmp_path / "entry" / "config.json").read_text() == "{}"
    assert sorted(os.listdir(tmp_path)) == ["entry"]


def test_changed_file_size_makes_the_entry_incomplete(tmp_path):
    entry_dir = str(tmp_path / "entry")
    model_cache.write_entry(entry_dir, save_two_files, METADATA)
    with open(os.path.join(entry_dir, "config.json"), "a") as handle:
        handle.write(" ")
    assert not model_cache.is_complete_entry(entry_dir, METADATA)


def test_file_sha256_is_remembered_until_the_file_changes(tmp_path, monkeypatch):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 1000)
    cache_dir = str(tmp_path / "cache")
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert model_cache.file_sha256(str(path), cache_dir=cache_dir) == expected
    assert os.path.exists(os.path.join(cache_dir, model_cache.HASH_INDEX_NAME))

    def no_hashing(path):
        raise AssertionError("hashed again")

    monkeypatch.setattr(model_cache, "_compute_sha256", no_hashing)
    assert model_cache.file_sha256(str(path), cache_dir=cache_dir) == expected
    monkeypatch.undo()
    path.write_bytes(b"GGUF" + b"\1" * 1001)
    assert model_cache.file_sha256(str(path), cache_dir=cache_dir) == (
        hashlib.sha256(path.read_bytes()).hexdigest()
    )


def test_corrupt_hash_index_is_ignored(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"data")
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    (cache_dir / model_cache.HASH_INDEX_NAME).write_text("[1, 2")
    digest = model_cache.file_sha256(str(path), cache_dir=str(cache_dir))
    assert digest == hashlib.sha256(b"data").hexdigest()


def test_cache_root_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KERASALIGN_CACHE_DIR", str(tmp_path))
    assert model_cache.cache_root() == str(tmp_path)
    monkeypatch.delenv("KERASALIGN_CACHE_DIR")
    assert model_cache.cache_root().endswith(os.path.join(".cache", "kerasalign"))


def test_skip_random_initialization_is_undone_after_errors():
    with pytest.raises(RuntimeError):
        with skip_random_initialization():
            raise RuntimeError("boom")
    layer = keras.layers.Dense(3)
    layer.build((None, 4))
    assert float(keras.ops.max(keras.ops.abs(layer.kernel))) > 0


@pytest.mark.parametrize("module", [model_cache, skip_initialization, gguf_weights])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
