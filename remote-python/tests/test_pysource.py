"""parse_source survives the CPython 3.11 AST race that made concurrent static checks fail on good code."""

from __future__ import annotations

import ast
import gc
import threading
import time
from collections.abc import Callable
from pathlib import Path

from archloop.pysource import parse_source

SEEDS = [p.read_text() for p in sorted((Path(__file__).parents[1] / "archloop" / "corpus" / "seeds").glob("*.py"))]


class _ReleasesTheGilWhenCollected:
    """A reference cycle whose finaliser sleeps: a GC pass inside one thread's AST build hands the GIL to another."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        time.sleep(0)


def _stress(parse: Callable[[str], ast.Module], threads: int = 4, rounds: int = 20) -> list[str]:
    errors: list[str] = []

    def work() -> None:
        for _ in range(rounds):
            for source in SEEDS:
                _ReleasesTheGilWhenCollected()
                try:
                    parse(source)
                except SystemError as error:
                    errors.append(str(error))
                    return

    old = gc.get_threshold()
    gc.set_threshold(50)  # collect often, so finalisers run in the middle of tree building
    try:
        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        gc.set_threshold(*old)
    return errors


def test_concurrent_parses_never_trip_the_ast_recursion_counter():
    assert _stress(parse_source) == []


def test_parse_source_returns_the_same_tree_and_raises_the_same_errors_as_ast_parse():
    assert ast.dump(parse_source(SEEDS[0])) == ast.dump(ast.parse(SEEDS[0]))
    try:
        parse_source("def broken(:\n")
    except SyntaxError as error:
        assert error.lineno == 1
    else:
        raise AssertionError("a syntax error was not raised")
