"""A run: the loop over cycles, its SQLite store, selection, the daemon that owns a run and the clients that attach.

Holds: `stages` (the interface between the loop and the stages, and the records that cross it), `llm_stages` (the
stages of a real run: the LLM, the sandbox, MinHash, LoRA), `loop`, `store`, `selection`, `daemon`, `attach`,
`requests` (what a client may ask), `files` (the run folder's lock and pid files), `export`. The top layer of the
packages: it may import all of them and `config`; nothing below imports it.
"""
