"""COGs whose tiles are compressed where their chunks are computed.

GDAL's COG driver compresses on the cores of the process that writes the file, after the
chunks are computed and the overviews built: on a cluster, compression waits for compute
and runs on one machine. Here each chunk's task, on whichever worker computes it, also cuts
it into the COG's tiles, halves it for the overviews (AVERAGE ignoring nodata, or NEAREST)
and compresses the tiles of every level it holds whole; the writing process only appends
those bytes to a file, compresses the few small overview tiles no chunk holds whole, and
lays the COG out: IFDs first (tags from a GDAL-made template: georeferencing, nodata,
scale/offset), then the tiles, smallest overview first, as GDAL's COG driver does. Memory
stays bounded: a window of chunks in flight; the small overview levels are assembled in
memory-mapped files of the scratch folder.

Only what the layout needs is supported (one band, DEFLATE/ZSTD/LZW, no predictor: GDAL's
defaults for the COG driver); `supported` says so and `cog.write_cog` uses GDAL otherwise.
"""

from __future__ import annotations

import io
import math
import mmap
import os
import stat
import struct
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

import dask.array as darr
import imagecodecs
import numpy as np
import numpy.typing as npt
import rasterio
import tifffile
from dask.array.core import slices_from_chunks
from dask.delayed import delayed

if TYPE_CHECKING:
    import xarray as xr

# TIFF compression code and encoder at GDAL's default level of each codec.
_CODECS: dict[str, tuple[int, Callable[[bytes], bytes]]] = {
    "DEFLATE": (8, lambda raw: bytes(imagecodecs.deflate_encode(raw, level=6))),
    "ZSTD": (50000, lambda raw: bytes(imagecodecs.zstd_encode(raw, level=9))),
    "LZW": (5, lambda raw: bytes(imagecodecs.lzw_encode(raw))),
}
# Tags of an overview's IFD copied from the main one (the rest is georeferencing and metadata).
_OVERVIEW_TAGS = (258, 259, 262, 277, 284, 317, 339, 42113)
_TILE_TAGS = (322, 323, 324, 325)
# Past this size the file is a BigTIFF (64-bit offsets), as GDAL's BIGTIFF=IF_SAFER.
CLASSIC_LIMIT = 2**32 - 1
_ITEM_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8, 17: 8, 18: 8}


def supported(data: xr.DataArray, compress: str) -> bool:
    """Can this module write `data` with `compress` (else GDAL's COG driver does)?"""
    return compress.upper() in _CODECS and data.ndim == 2 and data.dtype.kind in "uif"


@dataclass(frozen=True)
class Spec:
    """What a chunk's task needs to cut, halve and compress its chunk (plain data: it travels)."""

    dtype: str
    nodata: float | None
    blocksize: int
    compress: str
    nearest: bool
    levels: int  # overview levels (factors 2, 4, ... 2**levels)
    whole: int  # levels 0..whole: every chunk holds whole tiles of them


@dataclass
class Encoded:
    """A chunk's tiles of levels 0..whole, keyed (level, tile row, tile column), and its
    pieces of the levels above, keyed level: (row, column of the piece in that level, array)."""

    tiles: dict[tuple[int, int, int], bytes] = field(default_factory=dict)
    pieces: dict[int, tuple[int, int, np.ndarray]] = field(default_factory=dict)


def _fill(spec: Spec) -> float:
    return 0 if spec.nodata is None or math.isnan(spec.nodata) else spec.nodata


def _encode_tile(tile: np.ndarray, spec: Spec) -> bytes:
    """One tile, padded to the full tile size as TIFF stores edge tiles."""
    size = spec.blocksize
    if tile.shape != (size, size):
        padded = np.full((size, size), _fill(spec), dtype=tile.dtype)
        padded[: tile.shape[0], : tile.shape[1]] = tile
        tile = padded
    return _CODECS[spec.compress][1](np.ascontiguousarray(tile, dtype=tile.dtype.newbyteorder("<")).tobytes())


def _tiles(level: np.ndarray, row0: int, col0: int, spec: Spec, k: int, out: dict[tuple[int, int, int], bytes]) -> None:
    size = spec.blocksize
    for r in range(0, level.shape[0], size):
        for c in range(0, level.shape[1], size):
            out[(k, (row0 + r) // size, (col0 + c) // size)] = _encode_tile(level[r : r + size, c : c + size], spec)


def halve(values: np.ndarray, spec: Spec) -> np.ndarray:
    """The next overview level of `values` (ceil(n / 2) pixels each way, as GDAL sizes them):
    the mean of each 2x2 block's valid pixels, rounded half up for integers, as GDAL's AVERAGE."""
    if spec.nearest:
        return values[::2, ::2]
    h, w = values.shape
    fill = _fill(spec) if spec.nodata is not None else 0
    if h % 2 or w % 2:
        padded = np.full((h + h % 2, w + w % 2), spec.nodata if spec.nodata is not None else fill, values.dtype)
        padded[:h, :w] = values
    else:
        padded = values
    corners = [padded[r::2, c::2] for r in (0, 1) for c in (0, 1)]
    integer = values.dtype.kind in "ui"
    wide = (np.int32 if values.dtype.itemsize <= 2 else np.int64) if integer else np.float64
    if not (h % 2 or w % 2) and _all_valid(values, spec.nodata):  # the usual chunk: no mask needed
        total: npt.NDArray[Any] = corners[0].astype(wide) + corners[1] + corners[2] + corners[3]
        return ((total + 2) // 4 if integer else total / 4).astype(spec.dtype)
    if spec.nodata is None:
        valid = [np.ones(corners[0].shape, bool) for _ in corners]
        if h % 2:
            valid[2][-1, :] = valid[3][-1, :] = False
        if w % 2:
            valid[1][:, -1] = valid[3][:, -1] = False
    elif math.isnan(spec.nodata):
        valid = [~np.isnan(c) for c in corners]
    else:
        valid = [c != spec.nodata for c in corners]
    counts: npt.NDArray[Any] = np.asarray(np.sum(valid, axis=0, dtype=np.uint8))
    sums: npt.NDArray[Any] = np.asarray(
        np.sum([np.where(v, c, 0) for v, c in zip(valid, corners, strict=True)], axis=0, dtype=wide)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (2 * sums + counts) // np.maximum(2 * counts, 1) if integer else sums / counts
    nodata = spec.nodata if spec.nodata is not None else 0
    return np.where(counts > 0, mean, nodata).astype(spec.dtype)


def _all_valid(values: np.ndarray, nodata: float | None) -> bool:
    if nodata is None:
        return True
    if math.isnan(nodata):
        return not bool(np.isnan(values).any())
    return not bool((values == nodata).any())


def encode_chunk(values: np.ndarray, row0: int, col0: int, spec: Spec) -> Encoded:
    """Tiles and overview pieces of the chunk at (row0, col0) (runs where the chunk is computed)."""
    level = np.asarray(values).astype(spec.dtype, copy=False)
    encoded = Encoded()
    for k in range(spec.levels + 1):
        if k:
            level = halve(level, spec)
        if k <= spec.whole:
            _tiles(level, row0 >> k, col0 >> k, spec, k, encoded.tiles)
        else:
            encoded.pieces[k] = (row0 >> k, col0 >> k, level)
    return encoded


def _whole_levels(chunks: tuple[tuple[int, ...], ...], blocksize: int, levels: int) -> int:
    """The highest level whose tiles no chunk boundary cuts (-1: not even full-resolution tiles)."""
    edges = [c for axis in chunks for c in axis[:-1]]
    k = -1
    while k < levels and all(e % (blocksize << (k + 1)) == 0 for e in edges):
        k += 1
    return k


def _aligned(values: darr.Array, blocksize: int, levels: int) -> darr.Array:
    """Chunks whose edges fall on tile edges of full resolution and of the first overview, and
    on pixel edges of every overview (a chunk halved alone is then the whole raster halved)."""
    edges = [c for axis in values.chunks for c in axis[:-1]]
    if _whole_levels(values.chunks, blocksize, 1) >= 1 and all(e % (1 << levels) == 0 for e in edges):
        return values
    edge = max(4 * blocksize, 1 << levels)
    rechunked: darr.Array = values.rechunk((edge, edge))
    return rechunked


class _Levels:
    """The overview levels no chunk holds whole, assembled from the chunks' pieces in memory-mapped files."""

    def __init__(self, folder: Path, height: int, width: int, spec: Spec):
        self.arrays: dict[int, np.ndarray] = {}
        for k in range(spec.whole + 1, spec.levels + 1):
            shape = (-(-height // (1 << k)), -(-width // (1 << k)))
            self.arrays[k] = np.lib.format.open_memmap(folder / f"level{k}.npy", "w+", spec.dtype, shape)

    def add(self, pieces: dict[int, tuple[int, int, np.ndarray]]) -> None:
        for k, (row, col, piece) in pieces.items():
            self.arrays[k][row : row + piece.shape[0], col : col + piece.shape[1]] = piece

    def tiles(self, spec: Spec) -> Iterator[tuple[int, int, int, np.ndarray]]:
        size = spec.blocksize
        for k, array in self.arrays.items():
            for r in range(0, array.shape[0], size):
                for c in range(0, array.shape[1], size):
                    yield k, r // size, c // size, np.array(array[r : r + size, c : c + size])


def _is_file(out: IO[bytes]) -> bool:
    try:
        return hasattr(os, "copy_file_range") and stat.S_ISREG(os.fstat(out.fileno()).st_mode)
    except (OSError, AttributeError, io.UnsupportedOperation):
        return False


class _TileFile:
    """Compressed tiles appended as they come; where each one is."""

    def __init__(self, path: Path):
        self.handle: BinaryIO = path.open("w+b")
        self.where: dict[tuple[int, int, int], tuple[int, int]] = {}
        self.end = 0

    def add(self, key: tuple[int, int, int], data: bytes) -> None:
        self.handle.write(data)
        self.where[key] = (self.end, len(data))
        self.end += len(data)

    def write_to(self, out: IO[bytes], keys: Iterable[tuple[int, int, int]]) -> None:
        """Copy the tiles of `keys` to `out` in that order, from the page cache (no read copy)."""
        self.handle.flush()
        if self.end == 0:
            return
        keys = iter(keys)
        if _is_file(out):  # a local file: the kernel copies, nothing passes through this process
            out.flush()
            source, target = self.handle.fileno(), out.fileno()
            for key in keys:
                offset, length = self.where[key]
                try:
                    while length:
                        copied = os.copy_file_range(source, target, length, offset)
                        offset, length = offset + copied, length - copied
                except OSError:  # another file system (EXDEV) or none of it here: copy below
                    out.write(os.pread(source, length, offset))
                    break
        with mmap.mmap(self.handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                for key in keys:
                    offset, length = self.where[key]
                    out.write(view[offset : offset + length])
            finally:
                view.release()


def write_cog_tiles(
    data: xr.DataArray,
    out: IO[bytes],
    *,
    scratch: Path,
    nodata: float | None,
    resampling: str,
    profile: dict[str, Any],
    compress: str,
    compute: Callable[[list[Any]], Iterator[tuple[int, Any]]],
    gdal_env: Callable[[], Any],
    overview_factors: list[int],
) -> Layout:
    """Write `data` as a COG to `out`, front to back (a local file or a storage stream: it never
    seeks); `scratch` holds the intermediate files (compressed tiles, small overview levels);
    `compute` gives the value of each chunk's task as it is done (`cog.computed`)."""
    blocksize = int(profile["blockxsize"])
    values = data.data if isinstance(data.data, darr.Array) else darr.from_array(data.data, chunks=4 * blocksize)
    levels = len(overview_factors)
    values = _aligned(values, blocksize, levels)
    spec = Spec(
        dtype=str(np.dtype(profile["dtype"])),
        nodata=nodata,
        blocksize=blocksize,
        compress=compress.upper(),
        nearest=resampling.upper() == "NEAREST",
        levels=levels,
        whole=min(_whole_levels(values.chunks, blocksize, levels), levels),
    )
    tiles = _TileFile(scratch / "cog.tiles")
    small = _Levels(scratch, int(profile["height"]), int(profile["width"]), spec)
    blocks = list(zip(slices_from_chunks(values.chunks), values.to_delayed().ravel(), strict=True))
    tasks = [delayed(encode_chunk)(block, rows.start, cols.start, spec) for (rows, cols), block in blocks]
    for _, encoded in compute(tasks):
        for key, raw in encoded.tiles.items():
            tiles.add(key, raw)
        small.add(encoded.pieces)
    with ThreadPoolExecutor() as pool:  # the codecs release the GIL
        keyed = list(small.tiles(spec))
        for (k, r, c, _), raw in zip(keyed, pool.map(lambda t: _encode_tile(t[3], spec), keyed), strict=True):
            tiles.add((k, r, c), raw)
    try:
        template = _template(scratch / "template.tif", profile, spec.compress, data, gdal_env)
        return _assemble(out, template, tiles, spec, int(profile["width"]), int(profile["height"]))
    finally:
        tiles.handle.close()
        (scratch / "cog.tiles").unlink(missing_ok=True)
        for k in small.arrays:
            (scratch / f"level{k}.npy").unlink(missing_ok=True)


# ------------------------------------------------------------------ TIFF layout


@dataclass(frozen=True)
class Layout:
    """What was written: the header and IFDs (every byte before the first tile), and the size."""

    head: bytes
    size: int

    def replica(self, path: Path) -> Path:
        """A local file with these headers and IFDs and the tiles left out (a sparse file of
        the same size): what GDAL and rio-cogeo read to check a COG's layout."""
        with path.open("wb") as handle:
            handle.write(self.head)
            handle.truncate(self.size)
        return path


@dataclass
class _Tag:
    code: int
    type: int
    count: int
    raw: bytes  # the value's bytes, little-endian


def _template(
    path: Path, profile: dict[str, Any], compress: str, data: xr.DataArray, gdal_env: Callable[[], Any]
) -> list[_Tag]:
    """The main IFD's tags as GDAL writes them for this profile (georeferencing, nodata, metadata)."""
    options = {**profile, "compress": compress, "sparse_ok": True}
    with gdal_env(), rasterio.open(path, "w", **options) as dst:
        if gcps := profile.get("gcps"):
            dst.gcps = (gcps, data.rio.crs)
        scale, offset = data.attrs.get("scale_factor"), data.attrs.get("add_offset")
        if scale is not None or offset is not None:
            dst.scales, dst.offsets = [float(scale or 1.0)], [float(offset or 0.0)]
    try:
        with tifffile.TiffFile(path) as tif:
            if tif.byteorder != "<":
                raise ValueError("GDAL wrote a big-endian template")
            tags = []
            page = tif.pages.first
            for tag in page.tags.values():
                size = _ITEM_SIZE[int(tag.dtype)] * tag.count
                tif.filehandle.seek(tag.valueoffset)
                tags.append(_Tag(tag.code, int(tag.dtype), tag.count, tif.filehandle.read(size)))
            return tags
    finally:
        path.unlink(missing_ok=True)


def _short_or_long(code: int, value: int) -> _Tag:
    return _Tag(code, 3, 1, struct.pack("<H", value)) if value < 65536 else _Tag(code, 4, 1, struct.pack("<I", value))


def _ifd_tags(main: list[_Tag], k: int, width: int, height: int, spec: Spec) -> list[_Tag]:
    """The tags of level `k` (0: the main image), tile offsets and sizes left out."""
    w, h = -(-width // (1 << k)), -(-height // (1 << k))
    own = {256: _short_or_long(256, w), 257: _short_or_long(257, h)}
    own[322] = _short_or_long(322, spec.blocksize)
    own[323] = _short_or_long(323, spec.blocksize)
    if k:
        own[254] = _Tag(254, 4, 1, struct.pack("<I", 1))  # reduced-resolution image
        kept = [t for t in main if t.code in _OVERVIEW_TAGS]
    else:
        kept = [t for t in main if t.code not in (254, 256, 257, 273, 278, 279, *_TILE_TAGS)]
    return sorted([*kept, *own.values()], key=lambda t: t.code)


class _Layout:
    """Where each IFD and each tile goes, and the bytes of the IFDs (classic TIFF or BigTIFF)."""

    def __init__(self, ifds: list[list[_Tag]], tile_counts: list[int], sizes: list[list[int]], big: bool):
        self.big = big
        self.entry, self.offset_type = (20, 16) if big else (12, 4)
        self.header = 16 if big else 8
        # Pass 1: where each IFD (and its values that do not fit in an entry) sits.
        position = self.header
        self.ifd_at: list[int] = []
        for tags, n in zip(ifds, tile_counts, strict=True):
            position += position % 2
            self.ifd_at.append(position)
            position += self._ifd_size(tags, n)
        self.data_at = position
        # Tiles: smallest overview first, then larger ones, the main image last.
        self.tile_at: list[list[int]] = [[] for _ in ifds]
        for level in reversed(range(len(ifds))):
            for size in sizes[level]:
                self.tile_at[level].append(position)
                position += size
        self.end = position

    def _count_bytes(self) -> int:
        return 8 if self.big else 2

    def _ifd_size(self, tags: list[_Tag], tiles: int) -> int:
        inline = 8 if self.big else 4
        size = self._count_bytes() + (len(tags) + 2) * self.entry + (8 if self.big else 4)
        for tag in tags:
            if len(tag.raw) > inline:
                size += len(tag.raw) + len(tag.raw) % 2
        item = 8 if self.big else 4
        if tiles * item > inline:
            size += 2 * tiles * item
        return size

    def ifd_bytes(self, index: int, tags: list[_Tag], offsets: list[int], sizes: list[int]) -> bytes:
        kind = 16 if self.big else 4
        fmt = "<Q" if self.big else "<I"
        arrays = [
            _Tag(324, kind, len(offsets), b"".join(struct.pack(fmt, o) for o in offsets)),
            _Tag(325, kind, len(sizes), b"".join(struct.pack(fmt, s) for s in sizes)),
        ]
        entries = sorted([*tags, *arrays], key=lambda t: t.code)
        start = self.ifd_at[index]
        following = self.ifd_at[index + 1] if index + 1 < len(self.ifd_at) else 0
        inline = 8 if self.big else 4
        extra_at = start + self._count_bytes() + len(entries) * self.entry + (8 if self.big else 4)
        head = struct.pack("<Q", len(entries)) if self.big else struct.pack("<H", len(entries))
        body, extra = b"", b""
        for tag in entries:
            if len(tag.raw) > inline:
                value = struct.pack(fmt, extra_at + len(extra))
                extra += tag.raw + b"\0" * (len(tag.raw) % 2)
            else:
                value = tag.raw.ljust(inline, b"\0")
            count = struct.pack("<Q", tag.count) if self.big else struct.pack("<I", tag.count)
            body += struct.pack("<HH", tag.code, tag.type) + count + value
        return head + body + struct.pack(fmt, following) + extra


def _assemble(out: IO[bytes], main: list[_Tag], tiles: _TileFile, spec: Spec, width: int, height: int) -> Layout:
    """Header, every IFD, then the tiles (smallest overview first), written in order to `out`."""
    ifds, keys, sizes = [], [], []
    for k in range(spec.levels + 1):
        w, h = -(-width // (1 << k)), -(-height // (1 << k))
        rows, cols = -(-h // spec.blocksize), -(-w // spec.blocksize)
        level_keys = [(k, r, c) for r in range(rows) for c in range(cols)]
        ifds.append(_ifd_tags(main, k, width, height, spec))
        keys.append(level_keys)
        sizes.append([tiles.where[key][1] for key in level_keys])
    big = tiles.end + 2**20 + sum(len(k) for k in keys) * 16 >= CLASSIC_LIMIT
    layout = _Layout(ifds, [len(k) for k in keys], sizes, big)
    head = bytearray(b"II+\0\x08\0\0\0" + struct.pack("<Q", 16) if big else b"II*\0" + struct.pack("<I", 8))
    for index, tags in enumerate(ifds):
        head += b"\0" * (layout.ifd_at[index] - len(head))
        head += layout.ifd_bytes(index, tags, layout.tile_at[index], sizes[index])
    head += b"\0" * (layout.data_at - len(head))
    out.write(head)
    tiles.write_to(out, (key for level in reversed(range(len(ifds))) for key in keys[level]))
    return Layout(bytes(head), layout.end)
