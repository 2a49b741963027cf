"""The index behind a KB: an interface, and faiss indexes over L2-normalised embeddings (inner product = cosine).

`KnowledgeBase` needs only `VectorIndex` (search, ntotal), so a sharded or
remote index can stand in for faiss without touching search. Of the faiss
ones, flat is exact and right for small KBs; HNSW and IVF trade a little
recall for speed on large ones, and IVF-PQ also memory (a 384-d vector in 96
bytes instead of 1,536). IVF and IVF-PQ train on a seeded sample, so training
is bounded at any size. An index is built from `Embeddings` one block (a KB's
shard) at a time, so a build never holds every embedding in memory.

`sharded` is exact flat search cut into files of `index_shard_rows` vectors
(the paper's text KB: 17 shards of up to 3,145,728), merged by score at search
time (`faiss.IndexShards`). Its build holds one shard at a time, and it is
opened by memory map: loading takes no time and no copy, and every process
searching it shares one copy in the page cache, which a 191 GiB flat index needs.
`check_fits` estimates a build's peak memory from faiss's layouts and refuses
one that will not fit, before it starts. A faiss index lives on the GPU when
faiss has GPU support and one is present; it is always saved in CPU form.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np
import psutil

from r1router.errors import ConfigError, DataError
from r1router.io import atomic_path

# faiss-cpu skips BLAS for query batches under 128000 distance computations
# by default; for our batch sizes BLAS is ~8x faster with identical results.
faiss.cvar.distance_compute_blas_threshold = 20


class VectorIndex(Protocol):
    """What search needs of an index; a faiss index is one as it is."""

    @property
    def ntotal(self) -> int:
        """Vectors held; row i is record i of the KB."""
        ...

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), each of shape (len(vectors), k), best first; a row id of -1 is an empty slot."""
        ...


INDEX_TYPES = ("flat", "sharded", "hnsw", "ivf", "ivfpq")
INDEX_FILE = "index.faiss"  # every type but sharded
SHARD_FILE = re.compile(r"index-(\d{5})\.faiss")  # sharded: index-00000.faiss, index-00001.faiss, ...
PQ_TRAIN_PER_CENTROID = 39  # faiss warns below 39 training points per centroid (k-means clustering)
TRAIN_SAMPLE_CAP = 1_000_000  # default IVF/PQ training sample at most (see `IndexConfig.train_size`)


@dataclass(frozen=True)
class IndexConfig:
    type: str = "flat"  # flat | sharded | hnsw | ivf | ivfpq
    index_shard_rows: int = 3_145_728  # sharded: vectors per index file (the paper's shard size)
    hnsw_m: int = 32
    hnsw_ef_construction: int = 200
    hnsw_ef_search: int = 64
    ivf_nlist: int = 0  # 0: about 4*sqrt(n)
    ivf_nprobe: int = 16
    pq_m: int = 0  # ivfpq: sub-quantisers, one byte each at 8 bits (0: dim / 4; must divide dim)
    pq_bits: int = 8
    train_sample: int = 0  # ivf, ivfpq: train on a seeded sample of this many vectors (0: see train_size)
    seed: int = 0

    def __post_init__(self) -> None:
        # Checked here, not when the index is built: a typo must not cost an embedding run first.
        if self.type not in INDEX_TYPES:
            raise ConfigError(f"unknown index type '{self.type}' (use {', '.join(INDEX_TYPES)})")
        if self.index_shard_rows < 1:
            raise ConfigError(f"index_shard_rows must be at least 1, not {self.index_shard_rows}")

    def file_names(self, count: int) -> tuple[str, ...]:
        """The index files a KB of `count` records holds: one, or one per `index_shard_rows` (sharded)."""
        if self.type != "sharded":
            return (INDEX_FILE,)
        return tuple(f"index-{number:05d}.faiss" for number in range(max(1, -(-count // self.index_shard_rows))))

    def nlist(self, count: int) -> int:
        return self.ivf_nlist or max(1, min(count // PQ_TRAIN_PER_CENTROID, int(4 * np.sqrt(count))))

    def subquantizers(self, dim: int) -> int:
        m = self.pq_m or max(1, dim // 4)
        if dim % m:
            raise ConfigError(f"ivfpq: pq_m={m} must divide the embedding dimension {dim}")
        return m

    def train_size(self, count: int) -> int:
        """How many vectors train an IVF/PQ index: a sample bounds the training's memory and time at any n.

        By default 256 per list (faiss's own cap), at most `TRAIN_SAMPLE_CAP` unless
        that leaves under 39 per list: 50M vectors train on 1.1M, not 7.2M (29 GiB at 1024-d).
        """
        if self.type not in ("ivf", "ivfpq"):
            return 0
        nlist = self.nlist(count)
        default = min(256 * nlist, max(TRAIN_SAMPLE_CAP, PQ_TRAIN_PER_CENTROID * nlist))
        return min(count, self.train_sample or default)


GPU_BUILD_TYPES = ("flat", "ivf")  # added on the GPU when there is one; HNSW has no GPU form, IVF-PQ's is limited


def gpu_available() -> bool:
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def index_bytes(count: int, dim: int, config: IndexConfig) -> int:
    """Memory the built index holds (faiss's layouts: vectors or codes, ids, graph links, centroids)."""
    vectors = count * dim * 4
    if config.type in ("flat", "sharded"):
        return vectors  # sharded: in files, memory-mapped when searched
    if config.type == "hnsw":
        return vectors + count * config.hnsw_m * 2 * 4 * 21 // 20  # level-0 links (2M), ~5 % more above
    inverted = count * 8 + config.nlist(count) * dim * 4  # ids and centroids
    if config.type == "ivf":
        return vectors + inverted
    m = config.subquantizers(dim)
    codebooks = m * 2**config.pq_bits * (dim // m) * 4
    return count * m * config.pq_bits // 8 + inverted + codebooks


# Calibrated on scripts/bench_index.py (1M x 384, shards of 2,048): faiss grows its storage as shards arrive.
# A flat index's one array: 1.05x its contents measured (HNSW's arrays assumed alike, not measured); IVF's
# lists double their capacity each, freed buffers fragment the heap: 1.48x measured (at most ~2x).
GROWTH = {"flat": 1.1, "sharded": 1.1, "hnsw": 1.1, "ivf": 1.5, "ivfpq": 1.5}
KMEANS_BYTES_PER_POINT = 12  # k-means keeps each training point's centroid (int64) and distance (float)
FAISS_WORKING_BYTES = 64 * 1024**2  # BLAS and per-thread buffers: ~25 MiB measured at any size


def build_bytes(count: int, dim: int, config: IndexConfig, shard_rows: int = 2048) -> int:
    """Peak memory of a KB build's index step, which reads the embeddings one shard at a time.

    Two phases, never overlapping: training (IVF, IVF-PQ) holds the seeded
    sample and faiss's working set for it, and is over before the first add;
    adding holds the growing index and one shard (float32, and its float16 file's pages);
    a sharded index holds only the index shard being filled, the others are written.
    No term holds every embedding: they stay in their shards on disk.
    """
    held = min(count, config.index_shard_rows) if config.type == "sharded" else count
    adding = int(index_bytes(held, dim, config) * GROWTH[config.type]) + shard_rows * dim * (4 + 2)
    return max(adding, _training_bytes(count, dim, config)) + FAISS_WORKING_BYTES


def _training_bytes(count: int, dim: int, config: IndexConfig) -> int:
    """Training's peak: the sample and k-means's assignments; IVF-PQ also copies a subsample for its
    codebooks (faiss takes 256 points per code) and holds its residuals."""
    train = config.train_size(count)
    need = train * (dim * 4 + KMEANS_BYTES_PER_POINT)
    if config.type == "ivfpq":
        need += 2 * min(train, 256 * 2**config.pq_bits) * dim * 4
    return need


def check_fits(count: int, dim: int, config: IndexConfig, available: int | None = None, shard_rows: int = 2048) -> int:
    """The build's estimated peak bytes; a ConfigError before any work when it exceeds 90 % of available memory."""
    need = build_bytes(count, dim, config, shard_rows)
    available = psutil.virtual_memory().available if available is None else available
    if need > 0.9 * available:
        gib = 1024**3
        raise ConfigError(
            f"a {config.type} index of {count:,} x {dim} vectors needs about {need / gib:.1f} GiB to build "
            f"({index_bytes(count, dim, config) / gib:.1f} GiB of index, "
            f"{_training_bytes(count, dim, config) / gib:.1f} GiB to train it), but {available / gib:.1f} GiB is "
            "available: use `ivfpq` (compressed codes), or a machine with more memory"
        )
    return need


# StandardGpuResources's scratch memory on a card over 8 GiB (faiss's getDefaultTempMemForGPU); not measured here.
FAISS_GPU_TEMP_BYTES = 1536 * 1024**2


def gpu_build_bytes(count: int, dim: int, config: IndexConfig, device: str) -> int:
    """GPU memory the index step takes: the growing index and faiss's scratch when it is filled on the GPU, else 0."""
    if not (device.startswith("cuda") and gpu_available() and config.type in GPU_BUILD_TYPES):
        return 0
    return int(index_bytes(count, dim, config) * GROWTH[config.type]) + FAISS_GPU_TEMP_BYTES


def check_fits_gpu(count: int, dim: int, config: IndexConfig, device: str, free: int) -> int:
    """`gpu_build_bytes`; a ConfigError before any work when it exceeds 90 % of the GPU's `free` bytes."""
    need = gpu_build_bytes(count, dim, config, device)
    if need > 0.9 * free:
        gib = 1024**3
        raise ConfigError(
            f"a {config.type} index of {count:,} x {dim} vectors needs about {need / gib:.1f} GiB of GPU memory to "
            f"build on {device}, but {free / gib:.1f} GiB is free: build it with `kb.device: cpu`, or use `sharded` "
            "or `ivfpq`"
        )
    return need


class Embeddings(Protocol):
    """What an index is built from: blocks in row order, and any rows gathered (`r1router.kb.embed.EmbeddingShards`)."""

    @property
    def rows(self) -> int: ...

    @property
    def dim(self) -> int: ...

    def blocks(self) -> Iterator[np.ndarray]:
        """float32 blocks of consecutive rows, in order; a build holds one at a time."""
        ...

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The float32 vectors of `rows` (sorted row numbers)."""
        ...


@dataclass(frozen=True)
class InMemory:
    """Vectors already in memory as `Embeddings`, one block: for callers that hold them (tests, benchmarks)."""

    vectors: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.vectors)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def blocks(self) -> Iterator[np.ndarray]:
        yield self.vectors

    def take(self, rows: np.ndarray) -> np.ndarray:
        return self.vectors[rows]


def build_index(vectors: np.ndarray | Embeddings, config: IndexConfig, device: str = "cpu") -> faiss.Index:
    """Build `config`'s index over `vectors`, one block at a time; IVF/IVF-PQ first train on a seeded sample.

    Peak memory is the index, one block and (before the first add) the
    training sample: see `build_bytes`. With `device` cuda and a faiss with GPU
    support, flat and IVF indexes are filled on the GPU; the result is always in CPU form, to be saved.
    A sharded index comes back as its shards merged in memory; `write_index` writes them one at a time instead.
    """
    if isinstance(vectors, np.ndarray):
        vectors = InMemory(np.ascontiguousarray(vectors, dtype=np.float32))
    if config.type == "sharded":
        return merged(list(_flat_shards(vectors, config)))
    index = _empty_index(vectors, config)
    target = to_search_device(index, device) if config.type in GPU_BUILD_TYPES else index
    for block in vectors.blocks():
        target.add(block)
    return index if target is index else faiss.index_gpu_to_cpu(target)


def write_index(vectors: Embeddings, config: IndexConfig, directory: Path, device: str = "cpu") -> tuple[str, ...]:
    """Build the index into `directory` (`config.file_names`); a sharded one is written shard by shard, never whole."""
    if config.type != "sharded":
        save_index(build_index(vectors, config, device), Path(directory) / INDEX_FILE)
        return (INDEX_FILE,)
    names, shards = config.file_names(vectors.rows), _flat_shards(vectors, config)
    for name in names:
        # Saved and dropped before the next is filled (a `for` over the shards would hold two at a time).
        save_index(next(shards), Path(directory) / name)
    return names


def _flat_shards(vectors: Embeddings, config: IndexConfig) -> Iterator[faiss.IndexFlatIP]:
    """Flat indexes of `index_shard_rows` consecutive vectors each (the last may be shorter), filled block by block."""
    shard = faiss.IndexFlatIP(vectors.dim)
    for block in vectors.blocks():
        while len(block):
            room = config.index_shard_rows - shard.ntotal
            shard.add(block[:room])
            block = block[room:]
            if shard.ntotal == config.index_shard_rows:
                yield shard
                shard = faiss.IndexFlatIP(vectors.dim)
    if shard.ntotal or not vectors.rows:
        yield shard


def merged(shards: list[faiss.Index]) -> faiss.IndexShards:
    """One index over `shards` in row order: each is searched (in parallel threads), hits merged by score.

    Row ids continue across shards (`successive_ids`), so row i is still record i of the KB.
    """
    index = faiss.IndexShards(shards[0].d, True, True)
    for shard in shards:
        index.add_shard(shard)  # the Python wrapper keeps a reference to each shard
    return index


def _empty_index(vectors: Embeddings, config: IndexConfig) -> faiss.Index:
    """The index `config` names, trained when its type needs it, holding no vector yet."""
    if config.type == "flat":
        return faiss.IndexFlatIP(vectors.dim)
    if config.type == "hnsw":
        index = faiss.IndexHNSWFlat(vectors.dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = config.hnsw_ef_construction
        index.hnsw.efSearch = config.hnsw_ef_search
        return index
    index = _inverted_index(vectors.rows, vectors.dim, config)
    index.train(_training_vectors(vectors, config))
    index.nprobe = config.ivf_nprobe
    return index


def _training_vectors(vectors: Embeddings, config: IndexConfig) -> np.ndarray:
    """A seeded sample of `train_size` rows in their order (drawn across every shard), or all rows."""
    size = config.train_size(vectors.rows)
    rng = np.random.default_rng(config.seed)
    rows = np.arange(vectors.rows) if size >= vectors.rows else np.sort(rng.choice(vectors.rows, size, replace=False))
    return vectors.take(rows)


def _inverted_index(count: int, dim: int, config: IndexConfig) -> faiss.Index:
    nlist = config.nlist(count)
    quantizer = faiss.IndexFlatIP(dim)
    if config.type == "ivf":
        return faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    needed = PQ_TRAIN_PER_CENTROID * 2**config.pq_bits
    if config.train_size(count) < needed:
        raise ConfigError(
            f"ivfpq with {config.pq_bits}-bit codes trains on at least {needed:,} vectors; this KB has {count:,} "
            "(or train_sample is smaller): use flat, hnsw or ivf"
        )
    m = config.subquantizers(dim)
    return faiss.IndexIVFPQ(quantizer, dim, nlist, m, config.pq_bits, faiss.METRIC_INNER_PRODUCT)


def to_search_device(index: faiss.Index, device: str) -> faiss.Index:
    """Move a flat/IVF index to the GPU when asked and possible (HNSW has no GPU form).

    A sharded index's shards are spread over the GPUs in turn: 8 cards of 80 GB hold what one cannot.
    """
    if not (device.startswith("cuda") and gpu_available()) or isinstance(index, faiss.IndexHNSW):
        return index
    if isinstance(index, faiss.IndexShards):
        gpus = faiss.get_num_gpus()
        resources = [faiss.StandardGpuResources() for _ in range(gpus)]
        return merged(
            [
                faiss.index_cpu_to_gpu(resources[number % gpus], number % gpus, faiss.downcast_index(index.at(number)))
                for number in range(index.count())
            ]
        )
    return faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)


def save_index(index: faiss.Index, path: Path) -> None:
    with atomic_path(path, suffix=".faiss") as tmp:
        faiss.write_index(index, str(tmp))


def load_index(paths: Path | Sequence[Path], expected_count: int) -> faiss.Index:
    """Load an index, or a sharded one's files (memory-mapped, merged), and refuse a wrong vector count.

    Opened once per process: a KB holds it for every search (the paper's retriever re-read its shards at every step).
    """
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(path) for path in paths]
    if len(paths) == 1 and paths[0].name == INDEX_FILE:
        index = _read(paths[0], 0)
    else:
        index = merged([_read(path, faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY) for path in paths])
    check_count(index, expected_count, paths[0].parent if len(paths) > 1 else paths[0])
    return index


def _read(path: Path, flags: int) -> faiss.Index:
    if not path.is_file():
        raise DataError(path, "index file not found; run `r1router kb build` first")
    try:
        return faiss.read_index(str(path), flags)
    except RuntimeError as exc:
        raise DataError(path, f"not a readable faiss index ({str(exc).splitlines()[0]})") from None


def check_count(index: VectorIndex, expected_count: int, where: Path) -> None:
    """Refuse an index whose vector count does not match its KB's records: its rows would name the wrong ones."""
    if index.ntotal != expected_count:
        raise DataError(where, f"index holds {index.ntotal} vectors but its KB has {expected_count} records")
