"""The loop's stages as one injected bundle (`Stages`), and the records that cross from a stage to the loop.

The loop (loop.py) knows only this interface; `build_stages(config, run_dir)` in llm_stages.py builds the real
one from a RunConfig (the LLM, the sandbox, the executor, the novelty index, LoRA fine-tuning). Keeping the loop
behind this seam is what lets the store/daemon/attach/resume machinery be tested alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from archloop.callbacks import ProgressCallback, StopPredicate

# (position in the batch, text appended, True when a retry restarts the candidate's text with this delta)
DeltaCallback = Callable[[int, str, bool], None]
# (code, 1-based attempt) -> acceptable? Generation samples a candidate that fails it again, a little hotter.
CodeCheck = Callable[[str, int], bool]


@dataclass(frozen=True)
class CorpusEntry:
    """A net the novelty filter compares against (seed corpus, LEMUR import, accepted run candidates)."""

    key: str
    code: str


@dataclass(frozen=True)
class GeneratedCode:
    position: int  # index within the requested batch
    code: str
    attempts: int
    tokens: int
    seconds: float
    raw: str | None = None  # the model's reply the code was extracted from, when it differs


@dataclass(frozen=True)
class Validation:
    ok: bool
    outcome: str  # wire Outcome
    message: str | None
    line: int | None
    params: int | None
    layers: list[dict[str, Any]] | None = None  # the validation forward's leaf modules (evaluation/layers.py)
    layers_truncated: bool = False


@dataclass(frozen=True)
class Novelty:
    max_jaccard: float
    nearest: str | None
    novel: bool
    # Novelty three ways (wire dicts: measure, score, nearest, duplicate, gate) and the sentence saying why; empty
    # where an index measures tokens only. `novel` is then the `[novelty] gate` verdict.
    measures: tuple[dict[str, object], ...] = ()
    explanation: str | None = None


@dataclass(frozen=True)
class Evaluation:
    candidate: str
    outcome: str  # wire Outcome
    accuracy: float | None  # percent
    params: int | None
    train_seconds: float | None
    eval_seconds: float | None
    peak_memory_mb: float | None
    images_per_second: float | None
    message: str | None
    data: str | None = None  # what `accuracy` was measured on: wire EvalData ("synthetic" or "cifar10")
    protocol: str | None = None  # the evaluation protocol's name ("paper" or "fast")
    epochs: int | None = None


@dataclass(frozen=True)
class EvalJob:
    candidate: str
    code: str
    seed: int


@dataclass(frozen=True)
class FinetuneOutcome:
    steps: int
    final_loss: float | None
    seconds: float
    cancelled: bool
    tokens: int = 0  # tokens trained on, every epoch's (padding excluded)


class NoveltyIndex(Protocol):
    def add(self, key: str, code: str) -> None: ...
    def query(self, code: str) -> Novelty: ...


class Stages(Protocol):
    """Everything a cycle does that is not bookkeeping. Implementations classify failures; they never raise for a
    bad candidate (only for a broken host, which the loop records as a run.error)."""

    def seed_corpus(self) -> list[CorpusEntry]: ...

    def new_novelty_index(self) -> NoveltyIndex: ...

    def signature(self, code: str) -> str: ...

    def quick_check(self, code: str) -> bool:
        """Cheap static check used while sampling (the generation-time retry rule)."""
        ...

    def generate(
        self,
        count: int,
        adapter_dir: Path | None,
        on_delta: DeltaCallback,
        check: CodeCheck | None,
        should_stop: StopPredicate,
        seed: int = 0,
    ) -> list[GeneratedCode]:
        """Sample `count` candidates; `seed` makes the sampling reproducible (the loop derives it from run.seed,
        the cycle and the batch's first index, so a run started again with the same seed draws the same candidates)."""
        ...

    def validate(self, code: str) -> Validation: ...

    def evaluate(self, jobs: Sequence[EvalJob], should_stop: StopPredicate) -> Iterator[Evaluation]:
        """Results in completion order; stops early (yielding nothing more) once should_stop() is true."""
        ...

    def training_pair(self, code: str) -> tuple[str, str] | None:
        """(prompt, completion) for fine-tuning; None for code that cannot be cut into one (it is left out)."""
        ...

    def finetune(
        self,
        cycle: int,
        pairs: Sequence[tuple[str, str]],
        previous_adapter: Path | None,
        out_dir: Path,
        on_progress: ProgressCallback,
        should_stop: StopPredicate,
    ) -> FinetuneOutcome: ...

    def close(self) -> None: ...
