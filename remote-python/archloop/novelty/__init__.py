"""Novelty: is a candidate a near-duplicate of a net seen before?

Holds: `minhash` (the paper's generation-time MinHash/LSH filter over code tokens) and `structure` (the
selection-time structural signature over the AST). May import `archloop.pysource` only.
"""
