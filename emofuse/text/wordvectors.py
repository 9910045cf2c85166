"""Static word vectors (word2vec, GloVe, FastText) and hashed word ids for trainable embeddings.

Vectors are read with gensim from a local file: word2vec text (``.txt``/``.vec`` with a header
line) or binary (``.bin``), GloVe text (no header), Facebook FastText binaries (``.bin``, with
sub-word vectors for unknown words) and gensim's own ``KeyedVectors.save`` files (``.kv``).
The ``word_vectors`` front-end turns a text into a ``(words, dim)`` sequence for sequence
models (Atmaja & Akagi's text branch reads at most 554 words).

A corpus's own trainable embedding (Atmaja & Akagi's "WE") needs a vocabulary; models here use
the hashing trick instead, so that a model can be built before it sees the corpus:
:func:`word_ids` maps every word to one of ``buckets`` rows (row 0 is padding), and
:func:`hashed_embedding_weights` initialises those rows from word vectors.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import logging
import os
import pathlib
import re
import zlib
from collections.abc import Sequence
from typing import Literal
from typing import get_args

import numpy as np

from emofuse.features import FeatureError
from emofuse.features import FeatureExtractor
from emofuse.registry import builds

log = logging.getLogger(__name__)

FileFormat = Literal["auto", "word2vec", "word2vec_binary", "glove", "fasttext", "keyed_vectors"]
FILE_FORMATS: tuple[str, ...] = get_args(FileFormat)
_TAG = re.compile(r"\[[^\]]*\]|<[^>]*>")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_FASTTEXT_MAGIC = 793712314


class WordVectorsError(ValueError):
    """A word-vector file that cannot be found or read."""


def words(text: str, *, lowercase: bool = True) -> list[str]:
    """The words of a text: tags such as ``[LAUGHTER]`` and punctuation dropped.

    >>> words("Oh, I don't KNOW... [LAUGHTER] 2 days!")
    ['oh', 'i', "don't", 'know', '2', 'days']
    """
    text = _TAG.sub(" ", text).replace("’", "'")
    found = _WORD.findall(text)
    return [w.lower() for w in found] if lowercase else found


def detect_format(path: str | pathlib.Path) -> str:
    """The format of a vector file, from its name and first bytes."""
    path = pathlib.Path(path)
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".kv", ".model")):
        return "keyed_vectors"
    if name.endswith(".bin"):
        with path.open("rb") as file:
            magic = int.from_bytes(file.read(4), "little")
        return "fasttext" if magic == _FASTTEXT_MAGIC else "word2vec_binary"
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as file:
        first = file.readline().split()
    header = len(first) == 2 and all(part.isdigit() for part in first)
    return "word2vec" if header else "glove"


@functools.lru_cache(maxsize=2)
def load_word_vectors(path: str, *, file_format: str = "auto", limit: int | None = None) -> object:
    """gensim ``KeyedVectors`` from a local file (cached per process).

    ``limit`` reads only the first ``limit`` vectors of word2vec and GloVe files (the most
    frequent words, in the distributed files).
    """
    from gensim.models import KeyedVectors

    if file_format not in FILE_FORMATS:
        raise WordVectorsError(f"file_format must be one of {', '.join(FILE_FORMATS)}, got {file_format!r}")
    file = pathlib.Path(os.path.expandvars(path)).expanduser()
    if "$" in str(file):
        raise WordVectorsError(f"word-vector path {path!r} names an environment variable that is not set")
    if not file.is_file():
        raise WordVectorsError(f"word-vector file not found: {file}")
    if file_format == "auto":
        file_format = detect_format(file)
    try:
        if file_format == "keyed_vectors":
            vectors = KeyedVectors.load(str(file))
        elif file_format == "fasttext":
            from gensim.models.fasttext import load_facebook_vectors

            vectors = load_facebook_vectors(str(file))
        else:
            vectors = KeyedVectors.load_word2vec_format(
                str(file), binary=file_format == "word2vec_binary", limit=limit,
                no_header=file_format == "glove", unicode_errors="replace",
            )
    except (OSError, ValueError, EOFError, UnicodeDecodeError) as error:
        raise WordVectorsError(f"{file}: cannot read as {file_format} vectors: {error}") from None
    log.info("word vectors %s: %d words, %d dimensions (%s)", file, len(vectors.index_to_key), vectors.vector_size, file_format)
    return vectors


def lookup(vectors: object, word: str) -> np.ndarray | None:
    """The vector of ``word`` (as written, else lower-cased), or ``None`` when unknown.

    FastText vectors compose unknown words from their character n-grams.
    """
    for candidate in (word, word.lower()):
        if candidate in vectors.key_to_index:  # type: ignore[attr-defined]
            return vectors[candidate]  # type: ignore[index]
    if hasattr(vectors, "get_vector") and type(vectors).__name__ == "FastTextKeyedVectors":
        try:
            return vectors.get_vector(word.lower())  # type: ignore[attr-defined]
        except KeyError:
            return None
    return None


@dataclasses.dataclass(frozen=True)
class WordVectorsConfig:
    """Word-vector sequences: ``(words, dim)`` per text, at most ``max_tokens`` words.

    Unknown words are left out; a text without any known word becomes one zero vector, so
    that a sequence model still gets an input (and says it found nothing).
    """

    path: str
    file_format: FileFormat = "auto"
    lowercase: bool = False
    max_tokens: int = 554
    limit: int | None = None
    batch_size: int = 256

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be positive, got {self.max_tokens}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be positive, got {self.limit}")


@builds(WordVectorsConfig)
class WordVectors(FeatureExtractor):
    """Static word vectors of each word of a text: ``(words, dim)``."""

    modality = "text"
    parallel = False

    def extract_texts(self, texts: Sequence[str]) -> list[np.ndarray]:
        try:
            vectors = load_word_vectors(self.config.path, file_format=self.config.file_format, limit=self.config.limit)
        except WordVectorsError as error:
            raise FeatureError(str(error)) from None
        size = int(vectors.vector_size)  # type: ignore[attr-defined]
        results = []
        for text in texts:
            found = [v for w in words(text, lowercase=self.config.lowercase)[: self.config.max_tokens]
                     if (v := lookup(vectors, w)) is not None]
            if not found:
                log.debug("no known words in %r: one zero vector", text[:60])
                results.append(np.zeros((1, size), dtype=np.float32))
            else:
                results.append(np.stack(found).astype(np.float32))
        return results


def word_ids(tokens: Sequence[str], *, buckets: int) -> list[int]:
    """Stable hashed ids in ``1 .. buckets - 1`` (0 is padding), the same in every process.

    >>> word_ids(["happy", "happy", "sad"], buckets=1000)
    [253, 253, 813]
    """
    if buckets < 2:
        raise ValueError(f"buckets must be at least 2, got {buckets}")
    return [1 + zlib.crc32(token.encode("utf-8")) % (buckets - 1) for token in tokens]


def hashed_embedding_weights(vectors: object, *, buckets: int, lowercase: bool = True, seed: int = 0) -> np.ndarray:
    """Initial rows ``(buckets, dim)`` of a hashed embedding from word vectors.

    Each row takes the vector of the most frequent word (the file's order) hashed to it; rows
    no word reaches are drawn at random with the vectors' scale; row 0 (padding) is zero.
    """
    size = int(vectors.vector_size)  # type: ignore[attr-defined]
    rng = np.random.default_rng(seed)
    matrix = vectors.vectors  # type: ignore[attr-defined]
    scale = float(np.std(matrix[: min(len(matrix), 10000)])) or 0.1
    weights = rng.normal(0.0, scale, size=(buckets, size)).astype(np.float32)
    weights[0] = 0.0
    filled = np.zeros(buckets, dtype=bool)
    filled[0] = True
    for index, word in enumerate(vectors.index_to_key):  # type: ignore[attr-defined]
        key = word.lower() if lowercase else word
        row = word_ids([key], buckets=buckets)[0]
        if not filled[row]:
            weights[row] = matrix[index]
            filled[row] = True
            if filled.all():
                break
    log.info("hashed embedding: %d of %d rows from word vectors", int(filled.sum()) - 1, buckets - 1)
    return weights
