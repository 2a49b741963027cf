"""Ray as the distributed engine of the corpus and kb stages.

`engine.py` reads a stage's `distributed` param and opens the cluster;
`embed.py` embeds a KB's missing shards on Ray actors; `wiki.py` parses the
enwiki dump's bz2 streams on Ray tasks. Each writes exactly what the
single-process path writes (the same shard files, in the same order), so a
build can switch engine, or resume on the other one, without changing a byte.
Ray is imported only when a stage asks for it.
"""
