"""An on-disk feature cache keyed by a hash of the extractor config, written atomically.

Layout: ``<root>/<extractor>-<config hash>/config.json`` and one ``.npy`` per item under a
two-character shard directory. Entries are written to a temporary file and renamed, so an
interrupted extraction never leaves a half-written entry; a later run reuses every finished one.

A hit is not trusted blindly: ``config.json`` must hold the config that its directory's hash
names, and every entry read must be a finite float32 array of the shape the cache's first entry
set (the same number of axes and the same feature dimension). An entry that fails is deleted,
counted in :attr:`FeatureCache.rejected` and reported, and the caller computes it again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
from typing import Any

import numpy as np

from emofuse.config import config_hash
from emofuse.config import to_dict
from emofuse.files import atomic_path
from emofuse.files import atomic_write_text

log = logging.getLogger(__name__)


def default_cache_dir() -> pathlib.Path:
    """``$EMOFUSE_CACHE`` or ``~/.cache/emofuse``."""
    return pathlib.Path(os.environ.get("EMOFUSE_CACHE", pathlib.Path.home() / ".cache" / "emofuse"))


class FeatureCache:
    """Arrays keyed by strings, in a directory named after the extractor and its config hash."""

    def __init__(self, root: str | os.PathLike[str], name: str, config: Any) -> None:
        digest = config_hash(config)
        self.directory = pathlib.Path(root) / f"{name}-{digest}"
        self.directory.mkdir(parents=True, exist_ok=True)
        self._made: set[str] = set()  # shard directories known to exist
        self.rejected: dict[str, str] = {}  # key -> why a cached entry was not used
        self._description = self.directory / "config.json"
        self._stored: dict[str, Any] = {"name": name, "config": to_dict(config), "config_hash": digest}
        if self._description.exists():
            try:
                stored = json.loads(self._description.read_text())
            except (OSError, ValueError):
                stored = {}
            if stored.get("config") != json.loads(json.dumps(to_dict(config))):
                log.warning("%s: config.json does not hold the config its name hashes; the entries are recomputed",
                            self.directory)
                for path in self.directory.glob("*/*.npy"):
                    path.unlink(missing_ok=True)
            else:
                self._stored = {**self._stored, **{k: v for k, v in stored.items() if k == "signature"}}
        atomic_write_text(self._description, json.dumps(self._stored, indent=2))

    @property
    def signature(self) -> dict[str, Any] | None:
        """``{"dtype", "ndim", "dim"}`` of the entries, set by the first one saved."""
        return self._stored.get("signature")

    def _check(self, array: np.ndarray) -> str | None:
        """Why ``array`` cannot be a valid entry (``None`` when it can)."""
        if array.dtype != np.float32:
            return f"dtype {array.dtype}, expected float32"
        if array.size == 0 or array.ndim not in (1, 2):
            return f"shape {array.shape}"
        signature = self.signature
        if signature is not None and (array.ndim != signature["ndim"] or array.shape[-1] != signature["dim"]):
            return f"shape {array.shape}, expected {signature['ndim']} axes with dimension {signature['dim']}"
        if not np.all(np.isfinite(array)):
            return "NaN or infinite values"
        return None

    @staticmethod
    def key(*parts: object) -> str:
        return hashlib.sha1("\x1f".join(map(str, parts)).encode("utf-8")).hexdigest()

    def path(self, key: str) -> pathlib.Path:
        return self.directory / key[:2] / f"{key}.npy"

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    def load(self, key: str) -> np.ndarray | None:
        """The valid entry of ``key``, or ``None`` (missing; or invalid, then deleted and counted)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            array = np.load(path, allow_pickle=False)
            problem = self._check(array)
        except (ValueError, OSError, EOFError) as error:
            problem = f"unreadable ({type(error).__name__})"
        if problem is None:
            return array
        path.unlink(missing_ok=True)
        self.rejected[key] = problem
        return None

    def save(self, key: str, array: np.ndarray) -> None:
        array = np.asarray(array)
        if self.signature is None and array.ndim in (1, 2):
            self._stored["signature"] = {"dtype": str(array.dtype), "ndim": int(array.ndim), "dim": int(array.shape[-1])}
            atomic_write_text(self._description, json.dumps(self._stored, indent=2))
        path = self.path(key)
        if key[:2] not in self._made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(key[:2])
        with atomic_path(path, suffix=".npy") as tmp_path:
            with tmp_path.open("wb") as file:
                np.save(file, np.ascontiguousarray(array), allow_pickle=False)
