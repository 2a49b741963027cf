import numpy as np
import pytest

from r1router.errors import ConfigError, DataError
from r1router.kb.index import IndexConfig, build_index, load_index, save_index


def unit_vectors(n, dim=32, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize(
    "config", [IndexConfig("flat"), IndexConfig("hnsw", hnsw_m=16), IndexConfig("ivf", ivf_nprobe=8)]
)
def test_each_index_type_finds_the_vectors_themselves(config):
    vectors = unit_vectors(2000)
    index = build_index(vectors, config)
    _, rows = index.search(vectors[:200], 1)
    assert (rows[:, 0] == np.arange(200)).mean() >= 0.95


def test_flat_index_equals_brute_force():
    vectors, queries = unit_vectors(500), unit_vectors(20, seed=1)
    _, rows = build_index(vectors, IndexConfig("flat")).search(queries, 5)
    expected = np.argsort(-(queries @ vectors.T), axis=1)[:, :5]
    np.testing.assert_array_equal(rows, expected)


def test_unknown_type_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown index type 'lsh'"):
        build_index(unit_vectors(10), IndexConfig("lsh"))


def test_count_mismatch_and_garbage_are_refused(tmp_path):
    path = tmp_path / "index.faiss"
    save_index(build_index(unit_vectors(10), IndexConfig()), path)
    assert load_index(path, 10).ntotal == 10
    with pytest.raises(DataError, match="index holds 10 vectors but its KB has 11 records"):
        load_index(path, 11)
    path.write_bytes(b"not an index")
    with pytest.raises(DataError, match="not a readable faiss index"):
        load_index(path, 10)
