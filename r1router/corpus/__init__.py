"""Corpus steps: the paper's raw corpora (enwiki dump, Open-WikiTable, M-BEIR pools, released
trajectories) turned into sharded Parquet records that `kb build` embeds.

Each format has one module that turns its units into records; `shards` holds
the resumable writer they share and the reader the KB build uses.
"""
