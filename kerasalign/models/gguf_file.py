"""Read a GGUF file: its metadata and its (possibly quantized) tensors.

`GGUFFile` wraps `gguf.GGUFReader` so that every problem with the file (not
found, not GGUF, truncated, unsupported tensor type) becomes a
`kerasalign.errors.PresetError` naming the file, and so that dequantization
happens one tensor at a time on request.
"""

import inspect
import os

import numpy as np

from kerasalign.errors import PresetError


def _gguf():
    try:
        import gguf
    except ImportError as error:  # pragma: no cover - depends on the install
        raise PresetError(
            'Reading GGUF files needs the `gguf` package: pip install "kerasalign[gemma3]"'
        ) from error
    return gguf


def _plain_ndarray_reader_class(gguf):
    """A `GGUFReader` that slices a plain ndarray view of its memory map.

    `GGUFReader` slices its `np.memmap` once per metadata value; with the
    262,144 vocabulary strings of Gemma 3 that takes about 20 s, of which
    about 15 s is `np.memmap` subclass overhead. Slicing a plain `ndarray` view
    of the same mapping gives the same arrays (still backed by the file) four
    times faster. The override only applies when `_get` has the signature it
    was written for; otherwise the stock reader is used.
    """
    reader_class = gguf.GGUFReader
    try:
        parameters = list(inspect.signature(reader_class._get).parameters)
    except (AttributeError, TypeError, ValueError):
        return reader_class
    if parameters != ["self", "offset", "dtype", "count", "override_order"]:
        return reader_class

    class PlainNdarrayGGUFReader(reader_class):
        def _get(self, offset, dtype, count=1, override_order=None):
            plain_data = self.__dict__.get("_plain_data")
            if plain_data is None:
                plain_data = self._plain_data = self.data.view(np.ndarray)
            count = int(count)
            end = offset + np.dtype(dtype).itemsize * count
            array = plain_data[offset:end].view(dtype=dtype)[:count]
            order = self.byte_order if override_order is None else override_order
            return array.view(array.dtype.newbyteorder(order))

    return PlainNdarrayGGUFReader


class GGUFFile:
    """A GGUF file opened for reading, with checked metadata and tensors.

    Args:
        path: str or path-like. The `.gguf` file.

    Raises:
        PresetError: the file does not exist, is not a GGUF file, is
            truncated, or holds tensors of a type `gguf` cannot dequantize.

    Examples:

    >>> gguf_file = GGUFFile("model.gguf")  # doctest: +SKIP
    >>> gguf_file.architecture  # doctest: +SKIP
    'gemma3'
    >>> gguf_file.value("gemma3.block_count")  # doctest: +SKIP
    18
    >>> gguf_file.tensor("output_norm.weight").shape  # doctest: +SKIP
    (640,)
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise PresetError(f"GGUF file {self.path} does not exist")
        gguf = _gguf()
        self._gguf = gguf
        self.file_size = os.path.getsize(self.path)
        with open(self.path, "rb") as handle:
            magic = handle.read(4)
        if magic != b"GGUF":
            raise PresetError(
                f"{self.path} is not a GGUF file (it does not start with the "
                f"bytes 'GGUF'; found {magic!r})"
            )
        try:
            self._reader = _plain_ndarray_reader_class(gguf)(self.path)
        except Exception as error:
            # GGUFReader reports a truncated or garbled header with whatever
            # numpy raises first (IndexError, ValueError, OverflowError, ...).
            raise PresetError(
                f"{self.path} is truncated or corrupt: the GGUF header cannot "
                f"be read ({type(error).__name__}: {error})"
            ) from error
        self._tensors = {tensor.name: tensor for tensor in self._reader.tensors}
        self._check_tensors()

    def _check_tensors(self):
        quantization_type = self._gguf.GGMLQuantizationType
        readable_types = {quantization_type.F32, quantization_type.F16}
        readable_types |= set(self._gguf.quants._type_traits)
        for tensor in self._reader.tensors:
            end = tensor.data_offset + tensor.n_bytes
            if end > self.file_size:
                raise PresetError(
                    f"{self.path} is truncated: tensor {tensor.name!r} ends at "
                    f"byte {end} but the file has {self.file_size} bytes"
                )
            if tensor.tensor_type not in readable_types:
                names = sorted(t.name for t in readable_types)
                raise PresetError(
                    f"{self.path}: tensor {tensor.name!r} has type "
                    f"{tensor.tensor_type.name}, which kerasalign cannot "
                    f"dequantize (supported: {', '.join(names)})"
                )

    @property
    def architecture(self):
        """str. The `general.architecture` value, e.g. `"gemma3"`."""
        return self.value("general.architecture", None)

    @property
    def tensor_names(self):
        """list of str. The names of the tensors, in file order."""
        return list(self._tensors)

    def has(self, key):
        """Whether the metadata has the key `key`."""
        return key in self._reader.fields

    def value(self, key, default=...):
        """The metadata value of `key` as a Python scalar, str or list.

        Args:
            key: str. The metadata key, e.g. `"gemma3.block_count"`.
            default: any. Returned when the key is missing. Without it a
                missing key raises `PresetError`.
        """
        field = self._reader.fields.get(key)
        if field is None:
            if default is ...:
                raise PresetError(f"{self.path}: metadata key {key!r} is missing")
            return default
        return field.contents()

    def tensor_shape(self, name):
        """The shape of tensor `name` in numpy (row-major) order."""
        tensor = self._tensor_info(name)
        return tuple(int(dim) for dim in reversed(tensor.shape.tolist()))

    def tensor_type(self, name):
        """The ggml type name of tensor `name`, e.g. `"Q4_K"`."""
        return self._tensor_info(name).tensor_type.name

    def tensor(self, name, row_block=None):
        """Dequantize tensor `name` to a float32 numpy array.

        Args:
            name: str. The tensor name, e.g. `"blk.0.attn_q.weight"`.
            row_block: slice. Rows (first numpy axis) to dequantize, to
                bound memory for large tensors. Defaults to all rows.
        """
        tensor = self._tensor_info(name)
        data = tensor.data if row_block is None else tensor.data[row_block]
        array = self._gguf.quants.dequantize(data, tensor.tensor_type)
        shape = self.tensor_shape(name)
        if row_block is None:
            return array.reshape(shape)
        return array.reshape((-1,) + shape[1:])

    def _tensor_info(self, name):
        tensor = self._tensors.get(name)
        if tensor is None:
            raise PresetError(f"{self.path}: tensor {name!r} is missing")
        return tensor
