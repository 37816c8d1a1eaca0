"""A small reader for the IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

Reading the files directly, rather than through torchvision's dataset classes, lets a flat folder of
the four published `.gz` files work (torchvision insists on `<root>/MNIST/raw/`).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np

from .errors import DatasetFormatError
from .files import read_bytes

# The third byte of the magic number is the element type; the big-endian ones need a byte-order tag.
_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes, path: Path) -> np.ndarray:
    """Decodes IDX bytes into an array of the shape its header declares; `path` is only for messages."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES or data[3] == 0:
        raise DatasetFormatError(f"{path}: not an IDX file (magic number {data[:4].hex() or 'missing'})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetFormatError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_DTYPES[data[2]])
    expected = math.prod(shape) * dtype.itemsize
    if len(data) - header != expected:
        raise DatasetFormatError(
            f"{path}: truncated or corrupt IDX file: its header declares shape {shape} ({expected} bytes of "
            f"data) but it holds {len(data) - header} bytes"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def read_idx(path: Path, shape: tuple[int | None, ...]) -> np.ndarray:
    """Reads an IDX file (gzipped or not) and checks its shape; None in `shape` accepts any size."""
    array = parse_idx(read_bytes(path), path)
    if len(array.shape) != len(shape) or any(
        e is not None and e != a for e, a in zip(shape, array.shape, strict=True)
    ):
        wanted = tuple("N" if e is None else e for e in shape)
        raise DatasetFormatError(f"{path}: IDX array of shape {array.shape}, expected {wanted}")
    return array
