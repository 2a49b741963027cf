import numpy as np
import pytest

from r1router.errors import ConfigError, DataError
from r1router.kb.index import IndexConfig, build_bytes, build_index, check_fits, index_bytes, load_index, save_index


def unit_vectors(n, dim=32, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize(
    "config",
    [
        IndexConfig("flat"),
        IndexConfig("hnsw", hnsw_m=16),
        IndexConfig("ivf", ivf_nprobe=8),
        IndexConfig("ivf", ivf_nprobe=8, train_sample=800),
        IndexConfig("ivfpq", ivf_nlist=8, ivf_nprobe=8, pq_m=8, pq_bits=4),
    ],
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


@pytest.mark.parametrize(
    "config",
    [IndexConfig("flat"), IndexConfig("hnsw"), IndexConfig("ivf"), IndexConfig("ivfpq", pq_bits=6, ivf_nlist=16)],
)
def test_the_memory_estimate_is_within_a_quarter_of_the_saved_index(tmp_path, config):
    vectors = unit_vectors(4000, dim=64)
    path = tmp_path / "index.faiss"
    save_index(build_index(vectors, config), path)
    assert index_bytes(4000, 64, config) == pytest.approx(path.stat().st_size, rel=0.25)


def test_a_build_that_will_not_fit_is_refused_before_it_starts():
    gib = 1024**3
    flat = IndexConfig("flat")
    assert check_fits(1_000_000, 384, flat, available=8 * gib) == build_bytes(1_000_000, 384, flat)
    # the index (35.8 GiB) as it grows, and one shard: no term for the embeddings, which stay in their shards
    with pytest.raises(
        ConfigError, match=r"needs about 39\.4 GiB to build \(35\.8 GiB of index.* 16\.0 GiB is available"
    ):
        check_fits(25_000_000, 384, flat, available=16 * gib)
    compressed = IndexConfig("ivfpq")  # 96 bytes a vector instead of 1,536: the index is ~16x smaller
    assert index_bytes(25_000_000, 384, compressed) < index_bytes(25_000_000, 384, flat) / 12


def test_ivfpq_refuses_too_few_vectors_and_a_sub_quantiser_count_that_does_not_divide():
    with pytest.raises(ConfigError, match=r"trains on at least 9,984 vectors; this KB has 2,000"):
        build_index(unit_vectors(2000), IndexConfig("ivfpq"))
    with pytest.raises(ConfigError, match="pq_m=5 must divide the embedding dimension 32"):
        build_index(unit_vectors(2000), IndexConfig("ivfpq", pq_m=5, pq_bits=4))


def test_the_estimate_holds_no_embeddings_and_an_ivf_sample_only_while_it_trains():
    gib = 1024**3
    flat, ivf = IndexConfig("flat"), IndexConfig("ivf", train_sample=100_000)
    # no term for the embeddings (35.8 GiB more): the growing index and one shard
    assert build_bytes(25_000_000, 384, flat) < 1.15 * index_bytes(25_000_000, 384, flat)
    # at 25M, IVF's 100k-vector sample is freed before the first add: the peak is the growing index's
    assert build_bytes(25_000_000, 384, ivf) < 1.6 * index_bytes(25_000_000, 384, ivf)
    # a small KB trains on every vector: then training (a copy of all) can be the peak of an IVF-PQ build
    small = IndexConfig("ivfpq")
    assert build_bytes(1_000_000, 384, small) > 1_000_000 * 384 * 4 > 10 * index_bytes(1_000_000, 384, small)
    assert build_bytes(1_000_000, 384, small) < 2 * gib


def test_the_default_training_sample_is_capped_but_keeps_39_vectors_a_list():
    ivf = IndexConfig("ivf")
    assert ivf.train_size(100_000) == 100_000  # small: every vector (256 a list is more than there are)
    assert ivf.train_size(5_000_000) == 1_000_000  # capped: 8,944 lists would take 2.3M at 256 a list
    big = 50_000_000
    assert ivf.train_size(big) == 39 * ivf.nlist(big) > 1_000_000  # the cap never leaves k-means under 39 a list
    assert IndexConfig("ivf", train_sample=3_000_000).train_size(big) == 3_000_000
    assert IndexConfig("flat").train_size(big) == 0
