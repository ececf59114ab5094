"""Sealed chunks: a run of one series' points, encoded compactly and losslessly.

A series keeps its newest points in an open chunk (typed arrays); when that fills up it is
sealed here. Each sealed chunk holds its timestamps and its values each in the smallest
of a few encodings, tried in turn and kept only if decoding gives back every bit:

- times: ``(first, step)`` when the interval is fixed (nothing per point); otherwise the
  deltas minus their median, in the narrowest of int8/16/32/64 (scrape jitter of a few ms
  takes one byte a point), one copy shared by the series of a target (``SharedPayloads``).
- values: one value when every value has the same bits; integers, or decimals of up to
  ``MAX_DECIMALS`` digits (``12.34`` as ``1234 / 10**2``), as deltas in the narrowest int
  type (a counter rising by small steps takes one byte a point); anything else (NaN,
  stale markers, +/-Inf, -0.0, noisy floats) as the XOR of each value's bits with the
  previous one's, bytes transposed so that equal high bytes line up.

Integer and XOR payloads are zlib-compressed when that saves a fifth or more. Decoding is
numpy end to end; ``DecodedCache`` keeps a bounded number of recently decoded points.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections import OrderedDict

import numpy as np

_WIDTHS = (np.int8, np.int16, np.int32, np.int64)
_LIMITS = [(int(np.iinfo(w).min), int(np.iinfo(w).max)) for w in _WIDTHS]
MAX_DECIMALS = 6
_SAFE = 2.0 ** 53  # integers a float holds exactly

# Time encodings.
T_STEP, T_DELTA = 0, 1
# Value encodings.
V_CONST, V_INT, V_XOR = 0, 1, 2
_ZLIB = 1 << 8  # codes: kind in bits 0-1, int width 2-3, decimals 4-7, zlib 8


class SealedChunk:
    """``n`` points from ``t0`` to ``t_last`` (ms). ``tcode/tdata`` and ``vcode/vdata`` are
    the encodings of times and values (see the module docstring)."""

    __slots__ = ("t0", "t_last", "n", "tcode", "tdata", "vcode", "vdata")

    def __init__(self, t0: int, t_last: int, n: int, tcode: int, tdata, vcode: int,
                 vdata) -> None:
        self.t0, self.t_last, self.n = t0, t_last, n
        self.tcode, self.tdata, self.vcode, self.vdata = tcode, tdata, vcode, vdata

    def nbytes(self) -> int:
        """Bytes of the encoded payloads (the objects around them not counted)."""
        return sum(len(d) for d in (self.tdata, self.vdata) if isinstance(d, bytes))

    def times(self) -> np.ndarray:
        if self.tcode == T_STEP:
            return self.t0 + self.tdata * np.arange(self.n, dtype=np.int64)
        base = struct.unpack_from("<q", self.tdata)[0]
        deltas = _unpack_ints(self.tcode, self.tdata[8:]).astype(np.int64) + base
        out = np.empty(self.n, dtype=np.int64)
        out[0] = self.t0
        np.cumsum(deltas, out=out[1:])
        out[1:] += self.t0
        return out

    def values(self) -> np.ndarray:
        kind = self.vcode & 0x3
        if kind == V_CONST:
            return np.full(self.n, self.vdata, dtype=np.uint64).view(np.float64)
        if kind == V_INT:
            first = struct.unpack_from("<q", self.vdata)[0]
            ints = np.empty(self.n, dtype=np.int64)
            ints[0] = first
            np.cumsum(_unpack_ints(self.vcode, self.vdata[8:]).astype(np.int64),
                      out=ints[1:])
            ints[1:] += first
            return _from_ints(ints, (self.vcode >> 4) & 0xF)
        raw = self.vdata if not self.vcode & _ZLIB else zlib.decompress(self.vdata)
        xored = np.frombuffer(raw, dtype=np.uint8).reshape(8, self.n).T.copy().view(np.uint64)
        return np.bitwise_xor.accumulate(xored.ravel()).view(np.float64)


def seal(ts: np.ndarray, vs: np.ndarray) -> SealedChunk:
    """Encode ``ts`` (int64 ms, increasing) and ``vs`` (float64) into a sealed chunk."""
    ts = np.asarray(ts, dtype=np.int64)
    vs = np.asarray(vs, dtype=np.float64)
    tcode, tdata = _encode_times(ts)
    if isinstance(tdata, bytes):
        tdata = SHARED_TIMES.share(tdata)
    vcode, vdata = _encode_values(vs)
    return SealedChunk(int(ts[0]), int(ts[-1]), len(ts), tcode, tdata, vcode, vdata)


# -- times ---------------------------------------------------------------------------------
def _encode_times(ts: np.ndarray) -> tuple[int, object]:
    if len(ts) == 1:
        return T_STEP, 0
    deltas = np.diff(ts)
    if (deltas == deltas[0]).all():
        return T_STEP, int(deltas[0])
    base = int(np.median(deltas))
    width, payload = _pack_ints(deltas - base)
    return T_DELTA | width << 2 | payload[0], struct.pack("<q", base) + payload[1]


# -- values --------------------------------------------------------------------------------
def _encode_values(vs: np.ndarray) -> tuple[int, object]:
    bits = vs.view(np.uint64)
    if (bits == bits[0]).all():
        return V_CONST, int(bits[0])
    if np.isfinite(vs).all():
        for decimals in range(MAX_DECIMALS + 1):
            scaled = vs * 10.0 ** decimals if decimals else vs
            if not (np.abs(scaled) < _SAFE).all():
                break
            ints = np.rint(scaled).astype(np.int64)
            if (_from_ints(ints, decimals).view(np.uint64) == bits).all():
                width, (z, payload) = _pack_ints(np.diff(ints))
                code = V_INT | decimals << 4 | width << 2 | z
                return code, struct.pack("<q", int(ints[0])) + payload
    xored = bits.copy()
    xored[1:] ^= bits[:-1]
    raw = xored.view(np.uint8).reshape(len(vs), 8).T.tobytes()
    packed = zlib.compress(raw, 6)
    return (V_XOR | _ZLIB, packed) if len(packed) < len(raw) else (V_XOR, raw)


def _from_ints(ints: np.ndarray, decimals: int) -> np.ndarray:
    floats = ints.astype(np.float64)
    return floats / 10.0 ** decimals if decimals else floats


# -- integer payloads ----------------------------------------------------------------------
def _pack_ints(ints: np.ndarray) -> tuple[int, tuple[int, bytes]]:
    """(width index, (zlib flag, bytes)) of ``ints`` in the narrowest type that holds them."""
    lo, hi = (int(ints.min()), int(ints.max())) if len(ints) else (0, 0)
    width = next(i for i, (a, b) in enumerate(_LIMITS) if a <= lo and hi <= b)
    raw = ints.astype(_WIDTHS[width]).tobytes()
    packed = zlib.compress(raw, 6) if len(raw) >= 64 else raw
    if len(packed) * 5 <= len(raw) * 4:
        return width, (_ZLIB, packed)
    return width, (0, raw)


def _unpack_ints(code: int, payload: bytes) -> np.ndarray:
    raw = zlib.decompress(payload) if code & _ZLIB else payload
    return np.frombuffer(raw, dtype=_WIDTHS[(code >> 2) & 0x3])


# -- timestamps shared between series ------------------------------------------------------
class SharedPayloads:
    """One copy of each of the last ``max_entries`` distinct payloads. Every series of a
    scrape target is scraped at the same instants, so their chunks' time payloads are equal
    bytes: sealed chunks of one target share one copy. A payload evicted from here stays
    in the chunks that hold it; new chunks just stop sharing it."""

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._copies: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def share(self, payload: bytes) -> bytes:
        with self._lock:
            copy = self._copies.get(payload)
            if copy is not None:
                self._copies.move_to_end(payload)
                return copy
            self._copies[payload] = payload
            if len(self._copies) > self.max_entries:
                self._copies.popitem(last=False)
            return payload


SHARED_TIMES = SharedPayloads()


# -- decoded chunks, bounded ---------------------------------------------------------------
class DecodedCache:
    """Recently decoded chunks as Python lists (what window reads hand out), least
    recently used dropped first once more than ``max_points`` points are held."""

    def __init__(self, max_points: int = 262_144) -> None:
        self.max_points = max_points
        self.points = 0
        self._lists: OrderedDict[SealedChunk, tuple[list[int], list[float]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, chunk: SealedChunk) -> tuple[list[int], list[float]]:
        with self._lock:
            hit = self._lists.get(chunk)
            if hit is not None:
                self._lists.move_to_end(chunk)
                return hit
        decoded = chunk.times().tolist(), chunk.values().tolist()
        with self._lock:
            if chunk not in self._lists:
                self._lists[chunk] = decoded
                self.points += chunk.n
            while self.points > self.max_points and len(self._lists) > 1:
                old, _ = self._lists.popitem(last=False)
                self.points -= old.n
        return decoded

    def clear(self) -> None:
        with self._lock:
            self._lists.clear()
            self.points = 0


CACHE = DecodedCache()
