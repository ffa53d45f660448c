"""`archloop check`: what the loop would do with one reply or net source, as a stable JSON-ready dict.

The same steps as a candidate of a run: `reply.extract_code`, the static contract check, and with `train=True` the
sandboxed one-epoch evaluation (`sandbox.evaluate_candidate`) on a small synthetic set by default. Fields of the
result (documented in README.md, "Checking a reply"):

    ok          true when the outcome is 'ok'
    outcome     the first failing step's outcome: 'no_code' | 'truncated' (extraction), 'syntax_error' |
                'contract_error' (the check), a wire evaluation outcome with --train, or 'ok'
    stage       the step that decided it: 'extract' | 'check' | 'evaluate'
    code        the extracted module ('' when none was found)
    stripped    [{kind, line, text}]: what extraction removed, lines of the input
    problems    [{line, message}]: lines of `code` (null when a problem has none)
    hyperparameters  the names `supported_hyperparameters()` declares (sorted)
    evaluation  with --train, when it ran: {outcome, accuracy, params, train_seconds, eval_seconds,
                images_per_second, peak_memory_mb, message, data, protocol, device}; else null
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from archloop.cache import cache_root
from archloop.evaluation.contract import check_source
from archloop.evaluation.data import cache_synthetic
from archloop.evaluation.evaluate import PROTOCOLS, EvalTask
from archloop.evaluation.sandbox import SandboxLimits, evaluate_candidate
from archloop.llm.reply import extract_code

# Small enough that --train ends in seconds on a CPU; the accuracy is then only a smoke signal.
DEFAULT_TRAIN_IMAGES = 512
DEFAULT_TEST_IMAGES = 256


def check_reply(
    text: str,
    *,
    train: bool = False,
    protocol: str = "fast",
    device: str = "cpu",
    train_images: int = DEFAULT_TRAIN_IMAGES,
    test_images: int = DEFAULT_TEST_IMAGES,
    timeout_s: float = 300.0,
    cache_dir: str | Path | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """What the loop would do with `text` (a raw reply or a module). Raises ValueError for an unknown protocol."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(sorted(PROTOCOLS))}")
    extraction = extract_code(text)
    result: dict[str, Any] = {
        "ok": False,
        "outcome": extraction.outcome,
        "stage": "extract",
        "code": extraction.code,
        "stripped": [asdict(item) for item in extraction.stripped],
        "problems": [],
        "hyperparameters": [],
        "evaluation": None,
    }
    if extraction.outcome in ("no_code", "truncated"):
        result["problems"] = [{"line": extraction.line, "message": extraction.message}]
        return result
    report = check_source(extraction.code)
    result.update(
        outcome=report.outcome,
        stage="check",
        problems=[{"line": p.line, "message": p.message} for p in report.problems],
        hyperparameters=sorted(report.hyperparameters),
    )
    if report.ok and train:
        dataset = cache_synthetic(cache_root(cache_dir) / "data", train_images, test_images, seed)
        evaluated = evaluate_candidate(
            EvalTask("check", extraction.code, seed),
            dataset,
            PROTOCOLS[protocol],
            SandboxLimits(timeout_s=timeout_s),
            device=device,
        )
        result.update(outcome=evaluated.outcome, stage="evaluate")
        if evaluated.outcome != "ok" and evaluated.message:
            result["problems"] = [{"line": evaluated.line, "message": evaluated.message}]
        result["evaluation"] = {
            "outcome": evaluated.outcome,
            "accuracy": evaluated.accuracy,
            "params": evaluated.params,
            "train_seconds": evaluated.train_seconds,
            "eval_seconds": evaluated.eval_seconds,
            "images_per_second": evaluated.images_per_second,
            "peak_memory_mb": evaluated.peak_memory_mb,
            "message": evaluated.message,
            "data": dataset.name,
            "protocol": protocol,
            "device": device,
        }
    result["ok"] = result["outcome"] == "ok"
    return result


def format_text(result: dict[str, Any]) -> str:
    """The result for people: the verdict, what was stripped, each problem with its line."""
    lines = [f"{'ok' if result['ok'] else 'rejected'}: {result['outcome']} (at {result['stage']})"]
    for item in result["stripped"]:
        lines.append(f"  stripped {item['kind']} at line {item['line']}: {item['text']}")
    for problem in result["problems"]:
        where = (
            f"line {problem['line']}: "
            if problem["line"] and f"line {problem['line']}" not in problem["message"]
            else ""
        )
        lines.append(f"  problem: {where}{problem['message']}")
    evaluation = result["evaluation"]
    if evaluation is not None:
        accuracy = "n/a" if evaluation["accuracy"] is None else f"{evaluation['accuracy']:.2f}%"
        lines.append(
            f"  evaluation on {evaluation['data']} ({evaluation['protocol']}, {evaluation['device']}): "
            f"{evaluation['outcome']}, accuracy {accuracy}, train {evaluation['train_seconds']} s"
        )
    return "\n".join(lines)
