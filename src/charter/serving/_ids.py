"""Prediction ids: random UUID4s, made many at a time."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa

__all__ = ["prediction_ids"]

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def prediction_ids(count: int) -> pa.Array:
    """`count` random UUID4s as 32 hex digits, made in one pass (uuid4() per row costs 2 µs)."""
    raw = np.frombuffer(os.urandom(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    text = np.empty((count, 32), dtype=np.uint8)
    text[:, 0::2] = _HEX[raw >> 4]
    text[:, 1::2] = _HEX[raw & 0x0F]
    offsets = np.arange(0, 32 * (count + 1), 32, dtype=np.int32)  # fixed width: no Python str
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(text))
