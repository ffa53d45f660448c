"""Evaluation: does a candidate honour the contract, and what accuracy does one epoch of training give it?

Holds: `contract` (the LEMUR API contract, checked statically), `data` (CIFAR-10 or synthetic images, as uint8
arrays), `evaluate` (the training protocols and what runs inside the sandbox), `sandbox` + `sandbox_child` +
`launcher` + `landlock` (one confined process per candidate), `executor` (local workers) and `ray_executor` (a Ray
cluster). May import: `archloop.pysource` and the standard/scientific libraries; never `run`, `llm`, `novelty`,
`corpus` or `config`.
"""
