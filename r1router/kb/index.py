"""The index behind a KB: an interface, and faiss indexes over L2-normalised embeddings (inner product = cosine).

`KnowledgeBase` needs only `VectorIndex` (search, ntotal), so a sharded or
remote index can stand in for faiss without touching search. Of the faiss
ones, flat is exact and right for small KBs; HNSW and IVF trade a little
recall for speed on large ones. A faiss index lives on the GPU when faiss has
GPU support and one is present; it is always saved in CPU form.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

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


INDEX_TYPES = ("flat", "hnsw", "ivf")


@dataclass(frozen=True)
class IndexConfig:
    type: str = "flat"  # flat | hnsw | ivf
    hnsw_m: int = 32
    hnsw_ef_construction: int = 200
    hnsw_ef_search: int = 64
    ivf_nlist: int = 0  # 0: about 4*sqrt(n)
    ivf_nprobe: int = 16

    def __post_init__(self) -> None:
        # Checked here, not when the index is built: a typo must not cost an embedding run first.
        if self.type not in INDEX_TYPES:
            raise ConfigError(f"unknown index type '{self.type}' (use {', '.join(INDEX_TYPES)})")


def gpu_available() -> bool:
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def build_index(vectors: np.ndarray, config: IndexConfig) -> faiss.Index:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if config.type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif config.type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = config.hnsw_ef_construction
        index.hnsw.efSearch = config.hnsw_ef_search
    else:  # ivf (IndexConfig allows no other type)
        nlist = config.ivf_nlist or max(1, min(len(vectors) // 39, int(4 * np.sqrt(len(vectors)))))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = config.ivf_nprobe
    index.add(vectors)
    return index


def to_search_device(index: faiss.Index, device: str) -> faiss.Index:
    """Move a flat/IVF index to the GPU when asked and possible (HNSW has no GPU form)."""
    if device.startswith("cuda") and gpu_available() and not isinstance(index, faiss.IndexHNSW):
        return faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    return index


def save_index(index: faiss.Index, path: Path) -> None:
    with atomic_path(path, suffix=".faiss") as tmp:
        faiss.write_index(index, str(tmp))


def load_index(path: Path, expected_count: int) -> faiss.Index:
    """Load an index and refuse one whose vector count does not match its KB."""
    if not Path(path).is_file():
        raise DataError(path, "index file not found; run `r1router kb build` first")
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise DataError(path, f"not a readable faiss index ({str(exc).splitlines()[0]})") from None
    check_count(index, expected_count, path)
    return index


def check_count(index: VectorIndex, expected_count: int, where: Path) -> None:
    """Refuse an index whose vector count does not match its KB's records: its rows would name the wrong ones."""
    if index.ntotal != expected_count:
        raise DataError(where, f"index holds {index.ntotal} vectors but its KB has {expected_count} records")
