"""Novelty: is a candidate a near-duplicate of a net seen before?

Holds: `minhash` (the paper's generation-time MinHash/LSH filter over code tokens), `structure` (the selection-time
structural signature over the AST), `graph` (the layer graph read from the source, compared by Weisfeiler-Lehman
labels) and `three_way` (all three side by side, with the `[novelty] gate` verdict and a sentence saying why).
May import `archloop.pysource` only.
"""
