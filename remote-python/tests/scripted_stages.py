"""Deterministic stand-in stages for the store/loop/daemon machinery tests (NOT the real stages).

`ScriptedStages` plays each stage from a script: candidate i's code is a numbered variant of a tiny net, its
validity, novelty and accuracy come from the script, and fine-tuning counts the pairs it was given. It exists so the
bookkeeping (resume, selection, events) can be tested in milliseconds; the real stages are tested in test_loop.py's
end-to-end test. `slow=seconds` makes each step sleep, so a request or a kill can land mid-step (tests/daemon_entry.py
--slow).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from archloop.run.stages import (
    CodeCheck,
    CorpusEntry,
    DeltaCallback,
    EvalJob,
    Evaluation,
    FinetuneOutcome,
    GeneratedCode,
    Novelty,
    ProgressCallback,
    StopPredicate,
    Validation,
)

SEED_CODE = "import torch\nclass Net:\n    seed = 0\n"


def scripted_code(serial: int) -> str:
    return f"import torch\nclass Net:\n    variant = {serial}\n    # {'x' * (serial % 7)}\n"


def scripted_accuracy(code: str) -> float:
    """Accuracy from the code's digest: spread over 0-70 so both selection thresholds are exercised."""
    return round(int(hashlib.sha256(code.encode()).hexdigest()[:6], 16) % 7000 / 100, 2)


class ExactIndex:
    """Novelty by exact text: a repeat of a corpus entry is a duplicate (max Jaccard 1.0)."""

    def __init__(self) -> None:
        self.entries: dict[str, str] = {}

    def add(self, key: str, code: str) -> None:
        self.entries[code] = key

    def query(self, code: str) -> Novelty:
        if code in self.entries:
            return Novelty(1.0, self.entries[code], False)
        return Novelty(0.1 if self.entries else 0.0, next(iter(self.entries.values()), None), True)


class ScriptedStages:
    """Candidate codes come from a counter persisted in `state_file`, so a restarted process continues it."""

    def __init__(self, state_file: Path, invalid_every: int = 4, duplicate_every: int = 5, slow: float = 0.0) -> None:
        self.state_file = state_file
        self.invalid_every = invalid_every
        self.duplicate_every = duplicate_every
        self.slow = slow
        self.finetune_calls: list[tuple[int, int, str | None]] = []

    def _next_serial(self) -> int:
        serial = json.loads(self.state_file.read_text())["serial"] if self.state_file.exists() else 0
        self.state_file.write_text(json.dumps({"serial": serial + 1}))
        return serial

    def seed_corpus(self) -> list[CorpusEntry]:
        return [CorpusEntry("seed:tiny", SEED_CODE)]

    def new_novelty_index(self) -> ExactIndex:
        return ExactIndex()

    def signature(self, code: str) -> str:
        return hashlib.sha256(code.encode()).hexdigest()[:16]

    def quick_check(self, code: str) -> bool:
        return "class Net" in code

    def generate(
        self,
        count: int,
        adapter_dir: Path | None,
        on_delta: DeltaCallback,
        check: CodeCheck | None,
        should_stop: StopPredicate,
        seed: int = 0,
    ) -> list[GeneratedCode]:
        out = []
        for position in range(count):
            if should_stop():
                break
            serial = self._next_serial()
            if self.duplicate_every and serial % self.duplicate_every == self.duplicate_every - 1:
                code = SEED_CODE  # a near-duplicate of the corpus
            elif self.invalid_every and serial % self.invalid_every == self.invalid_every - 1:
                code = f"def broken(:\n  pass  # {serial}\n"
            else:
                code = scripted_code(serial)
            half = len(code) // 2
            on_delta(position, code[:half], True)
            time.sleep(self.slow)
            on_delta(position, code[half:], False)
            attempts = 1 if check is None or check(code, 1) else 2
            out.append(GeneratedCode(position, code, attempts, len(code) // 4, 0.01))
        return out

    def validate(self, code: str) -> Validation:
        if "def broken(" in code:
            return Validation(False, "syntax_error", "invalid syntax", 1, None)
        return Validation(True, "ok", None, None, 1234)

    def evaluate(self, jobs: Sequence[EvalJob], should_stop: StopPredicate) -> Iterator[Evaluation]:
        for job in jobs:
            if should_stop():
                return
            time.sleep(self.slow)
            yield Evaluation(job.candidate, "ok", scripted_accuracy(job.code), 1234, 0.5, 0.1, 10.0, 1000.0, None)

    def training_pair(self, code: str) -> tuple[str, str]:
        return ("design a net", code)

    def finetune(
        self,
        cycle: int,
        pairs: Sequence[tuple[str, str]],
        previous_adapter: Path | None,
        out_dir: Path,
        on_progress: ProgressCallback,
        should_stop: StopPredicate,
    ) -> FinetuneOutcome:
        steps = 3
        for step in range(1, steps + 1):
            if should_stop():
                return FinetuneOutcome(step - 1, None, 0.0, True)
            time.sleep(self.slow)
            on_progress(step, steps, 1.0 / step, 0.0)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "adapter.json").write_text(
            json.dumps({"pairs": len(pairs), "previous": None if previous_adapter is None else str(previous_adapter)})
        )
        self.finetune_calls.append((cycle, len(pairs), None if previous_adapter is None else previous_adapter.name))
        tokens = sum(len(prompt) + len(code) for prompt, code in pairs) // 4  # one token per 4 characters
        return FinetuneOutcome(steps, 1.0 / steps, 0.01, False, tokens=tokens)

    def close(self) -> None:
        return None
