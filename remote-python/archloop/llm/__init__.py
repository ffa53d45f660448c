"""The code LLM: prompts and chat templates, batched sampling, LoRA fine-tuning, and the embedded demo model.

Holds: `prompts`, `generate`, `finetune`, `demo_model` and `demo_corpus` (the demo model's pre-training family).
May import `corpus` (the seed nets), `evaluation.contract` and the leaves (`pysource`, `cache`); never `run` or
`config`.
"""
