"""Corpora of existing nets: the seed nets shipped with the backend (`seeds`) and LEMUR's nets (`lemur`).

May import `evaluation` (the contract check that admits a net) and `archloop.pysource`; never `run`, `llm` or
`config`.
"""
