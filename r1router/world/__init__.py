"""The offline demo world: a seeded fictional world, its three KBs and six benchmarks.

Facts are invented (syllable names, random years and numbers), so no
pretrained model knows them and every question needs retrieval. The entry
point is `r1router.world.build.build_world`.
"""
