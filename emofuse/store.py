"""A sharded feature store: the features of many utterances in few large, memory-mapped files.

The per-utterance cache (:mod:`emofuse.cache`) writes one ``.npy`` per utterance; past a few
hundred thousand utterances that is too many files for a shared file system. A store keeps the
same features, keyed the same way (front-end config hash; utterance id and the cache's key of
its audio or text), in shards of ``shard_size`` utterances:

.. code-block:: text

    <root>/<extractor>-<config hash>[-float16]/
        store.json                  format, front-end name and config, dtype, shard size
        index.arrow                 the plan: one row per utterance (id, key, shard, row)
        shards/shard-000000.arrow   Arrow IPC files, uncompressed, memory-mapped when read

The index is written (atomically) *before* any shard: it fixes which utterances go into which
shard, so that any number of processes can each write whole shards and a re-run computes only
the shards that are missing. Utterances that are not yet in the index are appended as new
shards; a changed audio file has a new key and lands in a new shard too (its old row is no
longer read). A shard is written by one process into a hidden partial file and renamed when
complete, so a killed job never leaves a half-written shard; a shard that does not hold
exactly the rows the index plans for it is deleted and written again.

A shard's columns: ``id``, ``key``, ``shape`` (``[dim]`` or ``[frames, dim]``), ``values``
(the flattened array, float32 or float16) and ``error`` (why an utterance has no features; its
values are null). :class:`StoreTable` reads them back as an ``id -> float32 array`` mapping.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import os
import pathlib
import uuid
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Literal

import numpy as np
import pyarrow as pa

from emofuse.config import config_hash
from emofuse.config import to_dict
from emofuse.files import atomic_write_bytes
from emofuse.files import atomic_write_text

FORMAT = "emofuse-feature-store"
FORMAT_VERSION = 1
DESCRIPTION_FILE = "store.json"
INDEX_FILE = "index.arrow"
SHARDS = "shards"
#: Shards a :class:`StoreTable` keeps memory-mapped at a time.
OPEN_SHARDS = 64

Dtype = Literal["float32", "float16"]


class StoreError(ValueError):
    """A store that cannot be used as asked (another front-end, a damaged or missing shard)."""


def shard_schema(dtype: Dtype) -> pa.Schema:
    """The columns of every shard of a ``dtype`` store."""
    value_type = pa.float16() if dtype == "float16" else pa.float32()
    return pa.schema([
        ("id", pa.string()),
        ("key", pa.string()),
        ("shape", pa.list_(pa.int32())),
        ("values", pa.large_list(value_type)),
        ("error", pa.string()),
    ], metadata={"format": FORMAT})


INDEX_SCHEMA = pa.schema([("id", pa.string()), ("key", pa.string()), ("shard", pa.int32()), ("row", pa.int32())])


def store_directory(root: str | os.PathLike[str], name: str, config: Any, dtype: Dtype = "float32") -> pathlib.Path:
    """Where the store of front-end ``name`` with ``config`` lives under ``root``."""
    suffix = "" if dtype == "float32" else f"-{dtype}"
    return pathlib.Path(root) / f"{name}-{config_hash(config)}{suffix}"


@dataclasses.dataclass(frozen=True)
class Index:
    """The plan of a store: utterance ``ids`` with their ``keys``, ``shards`` and ``rows``."""

    ids: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    shards: tuple[int, ...] = ()
    rows: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def num_shards(self) -> int:
        return max(self.shards) + 1 if self.shards else 0

    def members(self, shard: int) -> list[tuple[str, str]]:
        """``(id, key)`` of the rows of ``shard``, in row order."""
        return [(i, k) for _, i, k in sorted(self._by_shard.get(shard, []))]

    @functools.cached_property
    def _by_shard(self) -> dict[int, list[tuple[int, str, str]]]:
        grouped: dict[int, list[tuple[int, str, str]]] = {}
        for i, k, s, r in zip(self.ids, self.keys, self.shards, self.rows, strict=True):
            grouped.setdefault(s, []).append((r, i, k))
        return grouped

    def to_bytes(self) -> bytes:
        table = pa.table([pa.array(self.ids, pa.string()), pa.array(self.keys, pa.string()),
                          pa.array(self.shards, pa.int32()), pa.array(self.rows, pa.int32())], schema=INDEX_SCHEMA)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, INDEX_SCHEMA) as writer:
            writer.write_table(table)
        return sink.getvalue().to_pybytes()

    @classmethod
    def from_file(cls, path: pathlib.Path) -> Index:
        with pa.memory_map(str(path), "r") as source:
            table = pa.ipc.open_file(source).read_all()
        if table.schema != INDEX_SCHEMA:
            raise StoreError(f"{path}: not a store index (columns {table.schema.names})")
        columns = [tuple(table.column(name).to_pylist()) for name in INDEX_SCHEMA.names]
        return cls(*columns)


class FeatureStore:
    """The store of one front-end configuration under ``root`` (created when missing).

    ``config`` is what the directory name hashes (the front-end's :class:`~emofuse.config.Component`,
    as for the cache); an existing store of another config, format or dtype is refused.
    ``shard_size`` (utterances per shard) applies to shards planned from now on.
    """

    def __init__(self, root: str | os.PathLike[str], name: str, config: Any, *, dtype: Dtype = "float32",
                 shard_size: int = 1000) -> None:
        if dtype not in ("float32", "float16"):
            raise StoreError(f"dtype must be float32 or float16, got {dtype!r}")
        if shard_size < 1:
            raise StoreError(f"shard_size must be at least 1, got {shard_size}")
        self.name = name
        self.dtype: Dtype = dtype
        self.shard_size = shard_size
        self.directory = store_directory(root, name, config, dtype)
        self.schema = shard_schema(dtype)
        self._index: tuple[tuple[int, int, int], Index] | None = None
        description = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": name,
                       "config": json.loads(json.dumps(to_dict(config))), "config_hash": config_hash(config),
                       "dtype": dtype}
        path = self.directory / DESCRIPTION_FILE
        if path.is_file():
            try:
                stored = json.loads(path.read_text())
            except ValueError as error:
                raise StoreError(f"{path}: invalid JSON ({error})") from None
            mismatched = [k for k in description if stored.get(k) != description[k]]
            if mismatched:
                raise StoreError(f"{path} describes another store ({', '.join(mismatched)} differ); "
                                 "use another store directory")
        else:
            (self.directory / SHARDS).mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(description, indent=2) + "\n")
        (self.directory / SHARDS).mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"FeatureStore({str(self.directory)!r})"

    def __getstate__(self) -> dict[str, Any]:  # worker processes read the index again if they need it
        return {**self.__dict__, "_index": None}

    # The plan --------------------------------------------------------------------------------
    @property
    def index_path(self) -> pathlib.Path:
        return self.directory / INDEX_FILE

    def index(self) -> Index:
        """The index as on disk (read again only when the file changed)."""
        try:
            stat = self.index_path.stat()
        except FileNotFoundError:
            return Index()
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if self._index is None or self._index[0] != signature:
            self._index = (signature, Index.from_file(self.index_path))
        return self._index[1]

    def plan(self, entries: Sequence[tuple[str, str]]) -> list[int]:
        """The shards that hold ``entries`` (``(id, key)`` pairs), in order; entries the index
        does not hold yet are appended to it as new shards first (in the order given)."""
        index = self.index()
        where = {(i, k): s for i, k, s in zip(index.ids, index.keys, index.shards, strict=True)}
        new = list(dict.fromkeys(e for e in entries if e not in where))
        if new:
            first = index.num_shards
            shards = [first + n // self.shard_size for n in range(len(new))]
            rows = [n % self.shard_size for n in range(len(new))]
            index = Index(index.ids + tuple(i for i, _ in new), index.keys + tuple(k for _, k in new),
                          index.shards + tuple(shards), index.rows + tuple(rows))
            atomic_write_bytes(self.index_path, index.to_bytes())
            where.update({e: s for e, s in zip(new, shards, strict=True)})
        return sorted({where[e] for e in entries})

    # Shards ----------------------------------------------------------------------------------
    def shard_path(self, shard: int) -> pathlib.Path:
        return self.directory / SHARDS / f"shard-{shard:06d}.arrow"

    def problem(self, shard: int, index: Index | None = None) -> str | None:
        """Why ``shard`` cannot be read as the index plans it (``None`` when it can)."""
        path = self.shard_path(shard)
        if not path.is_file():
            return "missing"
        try:
            with pa.memory_map(str(path), "r") as source:
                reader = pa.ipc.open_file(source)
                if not reader.schema.equals(self.schema):
                    return f"columns {reader.schema} are not those of a {self.dtype} store"
                table = reader.read_all().select(["id", "key"])
        except (pa.ArrowInvalid, OSError) as error:
            return f"unreadable ({error})"
        found = list(zip(table.column("id").to_pylist(), table.column("key").to_pylist(), strict=True))
        if found != (index or self.index()).members(shard):
            return "its rows are not the ones the index plans"
        return None

    def missing(self, shards: Sequence[int]) -> list[int]:
        """The ``shards`` that must be (re)written: missing ones, and invalid ones (deleted here)."""
        index = self.index()
        todo = []
        for shard in shards:
            problem = self.problem(shard, index)
            if problem is None:
                continue
            if problem != "missing":
                self.shard_path(shard).unlink(missing_ok=True)
            todo.append(shard)
        return todo

    def remove_partial(self, shard: int) -> None:
        """Delete what an interrupted writer left of ``shard``."""
        for path in (self.directory / SHARDS).glob(f".{self.shard_path(shard).name}.*.partial"):
            path.unlink(missing_ok=True)

    def writer(self, shard: int) -> ShardWriter:
        return ShardWriter(self, shard)

    def shard_files(self) -> list[pathlib.Path]:
        return sorted((self.directory / SHARDS).glob("shard-*.arrow"))

    # Reading ---------------------------------------------------------------------------------
    def table(self, entries: Sequence[tuple[str, str]]) -> tuple[StoreTable, dict[str, str]]:
        """The features of ``entries`` (``(id, key)``) as a :class:`StoreTable`, and the ids that
        have none with why. Every shard that holds them must be complete."""
        index = self.index()
        where = {(i, k): (s, r) for i, k, s, r in zip(index.ids, index.keys, index.shards, index.rows, strict=True)}
        absent = [e for e in entries if e not in where]
        if absent:
            raise StoreError(f"{self.directory}: {len(absent)} utterances are not in the store (first: {absent[0][0]}); "
                             "extract them first")
        shards = sorted({where[e][0] for e in entries})
        bad = {s: p for s in shards if (p := self.problem(s, index)) is not None}
        if bad:
            first = next(iter(bad.items()))
            raise StoreError(f"{self.directory}: {len(bad)} shards cannot be read (first: shard {first[0]}, {first[1]}); "
                             "run the extraction again")
        errors: dict[tuple[int, int], str] = {}
        shapes: dict[tuple[int, int], tuple[int, ...]] = {}
        for shard in shards:
            with pa.memory_map(str(self.shard_path(shard)), "r") as source:
                table = pa.ipc.open_file(source).read_all().select(["shape", "error"])
            for row, (shape, error) in enumerate(zip(table.column("shape").to_pylist(), table.column("error").to_pylist(),
                                                     strict=True)):
                if error is not None:
                    errors[(shard, row)] = error
                else:
                    shapes[(shard, row)] = tuple(shape)
        found: dict[str, tuple[int, int, tuple[int, ...]]] = {}
        failures: dict[str, str] = {}
        for identifier, key in entries:
            shard, row = where[(identifier, key)]
            if (shard, row) in errors:
                failures[identifier] = errors[(shard, row)]
            else:
                found[identifier] = (shard, row, shapes[(shard, row)])
        kinds = {(len(shape), shape[-1]) for _, _, shape in found.values()}
        if len(kinds) > 1:
            raise StoreError(f"{self.directory}: features of different shapes (axes, dimension): {sorted(kinds)}")
        return StoreTable(self, found), failures


class ShardWriter:
    """Writes one shard: record batches into a hidden partial file, renamed by :meth:`commit`."""

    def __init__(self, store: FeatureStore, shard: int) -> None:
        self.store = store
        self.shard = shard
        self.path = store.shard_path(shard)
        self.partial = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:12]}.partial")
        self._sink = pa.OSFile(str(self.partial), "wb")
        self._writer = pa.ipc.new_file(self._sink, store.schema)
        self.rows = 0

    def write(self, ids: Sequence[str], keys: Sequence[str], arrays: Sequence[np.ndarray | None],
              errors: Sequence[str | None]) -> None:
        """Append rows: an array per utterance, or ``None`` with the error saying why."""
        dtype = np.float16 if self.store.dtype == "float16" else np.float32
        errors = list(errors)
        values, shapes, offsets = [], [], [0]
        for position, array in enumerate(arrays):
            if array is not None and errors[position] is None:
                with np.errstate(over="ignore"):  # float16 overflow: reported as the utterance's error
                    converted = np.ascontiguousarray(array, dtype=dtype)
                if not np.all(np.isfinite(converted)):
                    errors[position] = f"values do not fit {self.store.dtype}"
                else:
                    values.append(converted.reshape(-1))
                    shapes.append([int(n) for n in converted.shape])
                    offsets.append(offsets[-1] + converted.size)
                    continue
            shapes.append(None)
            offsets.append(offsets[-1])
        missing = pa.array([e is not None for e in errors])
        flat = np.concatenate(values) if values else np.zeros(0, dtype=dtype)
        batch = pa.record_batch([
            pa.array(list(ids), pa.string()),
            pa.array(list(keys), pa.string()),
            pa.array(shapes, pa.list_(pa.int32())),
            pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), pa.array(flat), mask=missing),
            pa.array(errors, pa.string()),
        ], schema=self.store.schema)
        self._writer.write_batch(batch)
        self.rows += len(ids)

    def commit(self) -> pathlib.Path:
        """Close the shard and move it into place (atomically), with the user's permissions."""
        from emofuse.files import _umask

        self._writer.close()
        self._sink.close()
        descriptor = os.open(self.partial, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.chmod(self.partial, 0o666 & ~_umask())
        os.replace(self.partial, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self._writer.close()
            self._sink.close()
        finally:
            self.partial.unlink(missing_ok=True)


class _Shard:
    """A memory-mapped shard: row ``r`` as a flat array, without copying."""

    def __init__(self, path: pathlib.Path) -> None:
        source = pa.memory_map(str(path), "r")
        reader = pa.ipc.open_file(source)
        self.batches: list[tuple[int, np.ndarray, np.ndarray]] = []  # (first row, offsets, flat values)
        start = 0
        for k in range(reader.num_record_batches):
            column = reader.get_batch(k).column("values")
            self.batches.append((start, column.offsets.to_numpy(), column.values.to_numpy(zero_copy_only=True)))
            start += len(column)
        self.starts = np.array([b[0] for b in self.batches])

    def row(self, row: int) -> np.ndarray:
        first, offsets, flat = self.batches[int(np.searchsorted(self.starts, row, side="right")) - 1]
        return flat[offsets[row - first] : offsets[row - first + 1]]


class StoreTable(Mapping[str, np.ndarray]):
    """Features read from a :class:`FeatureStore` on access: ``table[id]`` is a float32 array
    (a read-only view of the memory-mapped shard for float32 stores, a converted copy for
    float16). :meth:`location` and :meth:`shape` answer without reading the values."""

    def __init__(self, store: FeatureStore, found: Mapping[str, tuple[int, int, tuple[int, ...]]]) -> None:
        self.store = store
        self._found = dict(found)
        self._open: collections.OrderedDict[int, _Shard] = collections.OrderedDict()

    def __getstate__(self) -> dict[str, Any]:  # worker processes map the shards themselves
        return {**self.__dict__, "_open": collections.OrderedDict()}

    def __getitem__(self, identifier: str) -> np.ndarray:
        shard, row, shape = self._found[identifier]
        values = self._shard(shard).row(row).reshape(shape)
        return values if values.dtype == np.float32 else values.astype(np.float32)

    def _shard(self, shard: int) -> _Shard:
        opened = self._open.get(shard)
        if opened is None:
            opened = self._open[shard] = _Shard(self.store.shard_path(shard))
            if len(self._open) > OPEN_SHARDS:
                self._open.popitem(last=False)
        else:
            self._open.move_to_end(shard)
        return opened

    def __iter__(self) -> Iterator[str]:
        return iter(self._found)

    def __len__(self) -> int:
        return len(self._found)

    def __contains__(self, identifier: object) -> bool:
        return identifier in self._found

    def location(self, identifier: str) -> tuple[int, int]:
        """``(shard, row)`` of an utterance."""
        shard, row, _ = self._found[identifier]
        return shard, row

    def shape(self, identifier: str) -> tuple[int, ...]:
        """The shape of an utterance's features: ``(dim,)`` or ``(frames, dim)``."""
        return self._found[identifier][2]
