"""A directory cache of converted models, saved as KerasHub presets.

Each entry is a directory `<cache root>/<key>/` holding the saved model
(for GGUF imports, KerasHub preset files with `.npy` weights) and, written last, a completion marker
`kerasalign_cache.json` recording what the entry was built from, the library
versions that built it and the size of every file. An entry is written into a
temporary directory next to it and renamed into place, so a reader sees either
no entry or a complete one. An entry whose marker is missing or unreadable,
whose metadata does not match, or whose files are missing or have changed
size is removed and rebuilt, never used.

The cache root is `$KERASALIGN_CACHE_DIR`, or `~/.cache/kerasalign`.
"""

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings

MARKER_NAME = "kerasalign_cache.json"
HASH_INDEX_NAME = "file_sha256.json"
CACHE_FORMAT = 2  # 2: weights as .npy files (1: model.weights.h5)
CACHE_DIR_ENVIRONMENT_VARIABLE = "KERASALIGN_CACHE_DIR"
# Temporary directories older than this are left over from a crashed writer.
STALE_TEMPORARY_SECONDS = 3600


def cache_root(cache_dir=None):
    """The cache root directory (not created).

    Args:
        cache_dir: str. Overrides the root. Defaults to
            `$KERASALIGN_CACHE_DIR`, or `~/.cache/kerasalign`.

    Examples:

    >>> cache_root("/tmp/cache")
    '/tmp/cache'
    """
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_DIR_ENVIRONMENT_VARIABLE) or os.path.join(
            os.path.expanduser("~"), ".cache", "kerasalign"
        )
    return os.fspath(cache_dir)


def _compute_sha256(path, block_size=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(block_size):
            digest.update(block)
    return digest.hexdigest()


def _read_hash_index(index_path):
    try:
        with open(index_path) as handle:
            index = json.load(handle)
    except (OSError, ValueError):
        return {}
    return index if isinstance(index, dict) else {}


def file_sha256(path, cache_dir=None):
    """The hex SHA-256 digest of a file, remembered across processes.

    Hashing the 250 MB Gemma 3 270M file takes about half a second, a tenth of
    a cached load, so digests are remembered in `<cache root>/file_sha256.json`
    keyed by the file's real path, size, modification time (ns) and inode, as
    `git` does for its index; a file rewritten in place keeping all four
    would be missed.

    Args:
        path: str. The file.
        cache_dir: str. The cache root holding the index. Defaults to
            `$KERASALIGN_CACHE_DIR` or `~/.cache/kerasalign`.
    """
    stat = os.stat(path)
    signature = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
    key = os.path.realpath(path)
    index_path = os.path.join(cache_root(cache_dir), HASH_INDEX_NAME)
    index = _read_hash_index(index_path)
    entry = index.get(key)
    if isinstance(entry, dict) and entry.get("stat") == signature:
        return entry["sha256"]
    digest = _compute_sha256(path)
    index[key] = {"stat": signature, "sha256": digest}
    try:
        os.makedirs(os.path.dirname(index_path), exist_ok=True)
        temporary = f"{index_path}.tmp-{os.getpid()}"
        with open(temporary, "w") as handle:
            json.dump(index, handle)
        os.replace(temporary, index_path)
    except OSError:
        pass  # a read-only cache only costs the hash next time
    return digest


def library_versions():
    """The versions recorded in (and required of) a cache entry."""
    import keras
    import keras_hub

    try:
        from kerasalign import __version__ as kerasalign_version
    except ImportError:
        from importlib import metadata

        try:
            kerasalign_version = metadata.version("kerasalign")
        except metadata.PackageNotFoundError:
            kerasalign_version = "unknown"
    return {
        "kerasalign_version": kerasalign_version,
        "keras_hub_version": keras_hub.__version__,
        "keras_version": keras.__version__,
    }


def _file_sizes(directory):
    sizes = {}
    for parent, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(parent, name)
            relative = os.path.relpath(path, directory)
            if relative != MARKER_NAME:
                sizes[relative] = os.path.getsize(path)
    return sizes


def is_complete_entry(entry_dir, metadata):
    """Whether `entry_dir` is a complete entry built from `metadata`.

    Args:
        entry_dir: str. The entry directory.
        metadata: dict. JSON-able values that the marker must record
            (e.g. the source file's hash and the dtype).
    """
    try:
        with open(os.path.join(entry_dir, MARKER_NAME)) as handle:
            marker = json.load(handle)
        expected = dict(metadata, format=CACHE_FORMAT, **library_versions())
        if any(marker.get(key) != value for key, value in expected.items()):
            return False
        recorded_sizes = marker["files"]
        if not recorded_sizes:
            return False
        return all(
            os.path.getsize(os.path.join(entry_dir, name)) == size
            for name, size in recorded_sizes.items()
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def remove_entry(entry_dir):
    """Delete a cache entry (or anything else at its path), if present."""
    if os.path.isdir(entry_dir) and not os.path.islink(entry_dir):
        shutil.rmtree(entry_dir, ignore_errors=True)
    elif os.path.lexists(entry_dir):
        os.remove(entry_dir)


def _remove_stale_temporaries(root, name):
    now = time.time()
    for candidate in os.listdir(root):
        if not candidate.startswith(f".{name}.tmp-"):
            continue
        path = os.path.join(root, candidate)
        try:
            if now - os.path.getmtime(path) > STALE_TEMPORARY_SECONDS:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


def write_entry(entry_dir, save, metadata):
    """Write a cache entry atomically; returns whether it was written.

    `save(directory)` writes the entry's files; then the marker is written and
    the directory renamed to `entry_dir`. If another process completed the
    same entry meanwhile, its entry is kept. A failure to write (read-only or
    full disk, an error while saving) is reported as a warning, not raised:
    the cache is an optimisation.

    Args:
        entry_dir: str. The final entry directory.
        save: callable. Writes the entry's files into the directory it gets.
        metadata: dict. JSON-able values recorded in the marker.
    """
    root, name = os.path.split(os.path.abspath(entry_dir))
    temporary = None
    try:
        os.makedirs(root, exist_ok=True)
        _remove_stale_temporaries(root, name)
        temporary = tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=root)
        save(temporary)
        marker = dict(metadata, format=CACHE_FORMAT, **library_versions())
        marker["files"] = _file_sizes(temporary)
        marker["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        marker_path = os.path.join(temporary, MARKER_NAME)
        with open(marker_path, "w") as handle:
            json.dump(marker, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        if os.path.lexists(entry_dir) and not is_complete_entry(entry_dir, metadata):
            remove_entry(entry_dir)
        try:
            os.rename(temporary, entry_dir)
        except OSError:
            if not is_complete_entry(entry_dir, metadata):
                raise
            return False
        temporary = None
        return True
    except Exception as error:  # the cache is optional: keep the loaded model
        warnings.warn(
            f"Could not write the model cache entry {entry_dir} ({error}); the "
            "model will be converted again next time.",
            stacklevel=2,
        )
        return False
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
