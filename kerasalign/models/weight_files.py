"""A model's variables as one `.npy` file each, read back memory-mapped.

The GGUF cache stores the converted weights this way instead of KerasHub's
`model.weights.h5`: reading the 1.1 GB float32 Gemma 3 270M through h5py
took about 3 s, more than half of a cached load, while a memory-mapped
`.npy` is copied straight into the variable (about 0.3 s from the page
cache). `weights.json` lists every variable's path, file, shape and dtype in
the model's variable order; loading checks all of them and raises
`ValueError` on any mismatch, so a stale or partial directory is never
half-used. bfloat16 (which `.npy` cannot name) is stored as its raw 16 bits.

Examples:

>>> import tempfile, keras, numpy as np
>>> layer = keras.layers.Dense(2, name="dense")
>>> layer.build((None, 3))
>>> directory = tempfile.mkdtemp()
>>> save_variables(layer.weights, directory)
>>> copy = keras.layers.Dense(2, name="dense")
>>> copy.build((None, 3))
>>> load_variables(copy.weights, directory)
>>> bool(np.all(copy.kernel.numpy() == layer.kernel.numpy()))
True
"""

import json
import os

import numpy as np

INDEX_NAME = "weights.json"
BFLOAT16 = "bfloat16"


def _as_numpy(variable):
    value = np.asarray(variable.numpy())
    if str(variable.dtype) == BFLOAT16:
        return value.view(np.uint16)
    return value


def save_variables(variables, directory):
    """Write each variable to `<directory>/<index>.npy` plus `weights.json`.

    Args:
        variables: list of `keras.Variable` (e.g. `model.weights`).
        directory: str. Created if missing.
    """
    os.makedirs(directory, exist_ok=True)
    entries = []
    for index, variable in enumerate(variables):
        name = f"{index:04d}.npy"
        np.save(os.path.join(directory, name), _as_numpy(variable), allow_pickle=False)
        entries.append(
            {
                "path": variable.path,
                "file": name,
                "shape": list(variable.shape),
                "dtype": str(variable.dtype),
            }
        )
    with open(os.path.join(directory, INDEX_NAME), "w") as handle:
        json.dump({"variables": entries}, handle, indent=1)


def load_variables(variables, directory):
    """Assign the arrays written by `save_variables` to `variables`.

    Args:
        variables: list of `keras.Variable`, in the order they were saved.
        directory: str.

    Raises:
        ValueError: the index is missing or unreadable, or a variable's
            count, path, shape or dtype differs from what was saved.
    """
    try:
        with open(os.path.join(directory, INDEX_NAME)) as handle:
            entries = json.load(handle)["variables"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{directory}: unreadable {INDEX_NAME} ({error})") from error
    if len(entries) != len(variables):
        raise ValueError(
            f"{directory}: {len(entries)} saved arrays for {len(variables)} variables"
        )
    for variable, entry in zip(variables, entries, strict=True):
        expected = {
            "path": variable.path,
            "shape": list(variable.shape),
            "dtype": str(variable.dtype),
        }
        saved = {key: entry.get(key) for key in expected}
        if saved != expected:
            raise ValueError(f"{directory}/{entry.get('file')}: saved {saved}, expected {expected}")
        array = np.load(os.path.join(directory, entry["file"]), mmap_mode="r", allow_pickle=False)
        if entry["dtype"] == BFLOAT16:
            import ml_dtypes

            array = array.view(ml_dtypes.bfloat16)
        if list(array.shape) != expected["shape"]:
            raise ValueError(
                f"{directory}/{entry['file']}: array of shape {list(array.shape)}, "
                f"expected {expected['shape']}"
            )
        variable.assign(array)
