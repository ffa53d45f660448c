"""Session-wide fixtures shared by the run tests (loop, resume)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny random Llama with a locally trained tokenizer (built once per session: it takes seconds)."""
    from llm_fixtures import build_tiny_model_dir

    return build_tiny_model_dir(tmp_path_factory.mktemp("shared-tiny-llama"))
