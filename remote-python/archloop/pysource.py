"""Parse Python source safely from several threads.

CPython 3.11 keeps the AST constructor's recursion counter in module state shared by every thread, so two threads
converting trees at once can trip `SystemError: AST constructor recursion depth mismatch` on perfectly good code
(python/cpython#106905, seen here when the executor's workers checked candidates concurrently). Every `ast.parse` in
the backend goes through `parse_source`, which serialises them; parsing a candidate takes about a millisecond, so the
lock costs nothing measurable.
"""

from __future__ import annotations

import ast
import threading

_AST_LOCK = threading.Lock()


def parse_source(source: str) -> ast.Module:
    """`ast.parse(source)`, one thread at a time. Raises what `ast.parse` raises (SyntaxError, ValueError, ...)."""
    with _AST_LOCK:
        return ast.parse(source)
