"""A code LLM's reply -> the Python module the loop checks, evaluates, indexes and fine-tunes on.

Replies to the paper's prompt start with the forced prefix, which opens a ```python fence; a reply that follows the
format ends at the closing fence. Instruct models also write replies that do not: `<think>` blocks, "Here is..."
preambles, explanations after the code, a fence never closed, the module in a second fenced block, the imports
repeated, or a demo run at import (`if __name__ == "__main__":`, a top-level `print(Net(...))`). `extract_code`
keeps the code and lists what it removed:

- think blocks and prose outside fences are dropped;
- among several fenced blocks it picks the one defining `class Net`, else the largest; a block that defines only
  `supported_hyperparameters()` is joined to it (models often split the two);
- module-level statements that are not imports, defs, classes, a docstring or assignments of constants are removed
  (found with `ast`), as are repeated imports and imports only that removed code used;
- an assignment the kept code reads is kept whatever its value.

`outcome` is 'ok' (the code parses), 'syntax_error' (it does not; the code is returned so the check can show the
line), 'truncated' (an unclosed fence whose code stops mid-statement: the model ran out of tokens) or 'no_code'
(nothing that looks like Python). Pure text processing: no torch, safe on untrusted text.
"""

from __future__ import annotations

import ast
import re
import sys
import textwrap
from dataclasses import dataclass
from typing import Literal

from archloop.pysource import parse_source

ReplyOutcome = Literal["ok", "syntax_error", "truncated", "no_code"]

_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"^([ \t]*)(```+|~~~+)[ \t]*([\w+.-]*)[^\n]*$")
_PYTHON_TAGS = frozenset({"", "python", "py", "python3", "py3", "pytorch", "torch"})
# A line that can start a Python module (prose before it is a preamble).
_CODE_START = re.compile(r"^(import |from \S+ import |def |class |@|async def |#|\"\"\"|''')")
_SNIPPET = 80
# Imports of these are never dropped as unused: they cannot fail in the sandbox, and the forced prefix imports torch.
_ALWAYS_IMPORTABLE = frozenset(sys.stdlib_module_names) | {"torch", "numpy"}


@dataclass(frozen=True)
class Stripped:
    """One piece of the reply left out of the code: `kind` is a stable name, `line` its first line in the reply."""

    kind: str
    line: int
    text: str


@dataclass(frozen=True)
class Extraction:
    code: str
    outcome: ReplyOutcome
    message: str | None = None
    line: int | None = None  # line of `code` a syntax error points at
    stripped: tuple[Stripped, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass
class _Block:
    start: int  # 0-based line of the reply where the code starts
    lines: list[str]
    closed: bool

    @property
    def text(self) -> str:
        return textwrap.dedent("\n".join(self.lines)).strip("\n") + "\n"


def extract_code(reply: str) -> Extraction:
    """The Python module in `reply` (a raw model reply or plain source) and what was removed from it."""
    stripped: list[Stripped] = []
    result = _extract(reply, stripped)
    return Extraction(result.code, result.outcome, result.message, result.line, tuple(sorted(stripped, key=_order)))


def _order(item: Stripped) -> int:
    return item.line


def _extract(reply: str, stripped: list[Stripped]) -> Extraction:
    text = _drop_think(reply.replace("\r\n", "\n"), stripped)
    lines = text.split("\n")
    blocks, outside = _fenced_blocks(lines)
    if blocks:
        block = _choose(blocks, stripped)
        for start, chunk in outside:
            if chunk.strip():
                blank = len(chunk) - len(chunk.lstrip("\n"))
                stripped.append(Stripped("prose", start + 1 + blank, _snippet(chunk)))
    else:
        found = _unfenced(lines, stripped)
        if found is None:
            return Extraction("", "no_code", "the reply holds no Python code", None, tuple(stripped))
        block = found
    code = block.text
    if not code.strip():
        return Extraction("", "no_code", "the reply's code block is empty", None, tuple(stripped))
    try:
        tree = parse_source(code)
    except (SyntaxError, ValueError) as error:
        trimmed = None if block.closed else _trim_trailing_prose(block, stripped)
        if trimmed is None:
            line = getattr(error, "lineno", None)
            outcome: ReplyOutcome = "syntax_error" if block.closed or _ends_cleanly(block) else "truncated"
            what = "the code stops mid-statement (no closing fence)" if outcome == "truncated" else "syntax error"
            message = f"line {line}: {what}: {getattr(error, 'msg', error)}" if line else f"{what}: {error}"
            return Extraction(code, outcome, message, line, tuple(stripped))
        code, tree = trimmed
    code = _strip_module_code(code, tree, block.start, stripped)
    return Extraction(code, "ok", None, None, tuple(stripped))


def _snippet(text: str) -> str:
    first = next((line.strip() for line in text.split("\n") if line.strip()), "")
    return first if len(first) <= _SNIPPET else first[: _SNIPPET - 1] + "…"


def _drop_think(text: str, stripped: list[Stripped]) -> str:
    def replace(match: re.Match[str]) -> str:
        line = text.count("\n", 0, match.start()) + 1
        stripped.append(Stripped("think", line, _snippet(match.group(0)[len("<think>") :]) or "<think>"))
        return "\n" * match.group(0).count("\n")  # keep line numbers of what follows

    return _THINK.sub(replace, text)


def _fenced_blocks(lines: list[str]) -> tuple[list[_Block], list[tuple[int, str]]]:
    """Python fenced blocks (an unclosed one runs to the end), and the text outside every fence."""
    blocks: list[_Block] = []
    outside: list[tuple[int, str]] = []
    prose: list[str] = []
    prose_start = 0
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            if not prose:
                prose_start = index
            prose.append(lines[index])
            index += 1
            continue
        if prose:
            outside.append((prose_start, "\n".join(prose)))
            prose = []
        indent, marker, tag = match.group(1), match.group(2), match.group(3).lower()
        end = next(
            (
                j
                for j in range(index + 1, len(lines))
                if lines[j].strip().startswith(marker[:3]) and not lines[j].strip().strip(marker[0])
            ),
            None,
        )
        body = lines[index + 1 : len(lines) if end is None else end]
        if indent:
            body = [line[len(indent) :] if line.startswith(indent) else line for line in body]
        if tag in _PYTHON_TAGS:
            blocks.append(_Block(index + 1, body, end is not None))
        else:
            outside.append((index, "\n".join(lines[index : len(lines) if end is None else end + 1])))
        index = len(lines) if end is None else end + 1
    if prose:
        outside.append((prose_start, "\n".join(prose)))
    return blocks, outside


def _defines(tree: ast.Module | None, name: str) -> bool:
    return tree is not None and any(isinstance(n, ast.ClassDef | ast.FunctionDef) and n.name == name for n in tree.body)


def _try_parse(text: str) -> ast.Module | None:
    try:
        return parse_source(text)
    except (SyntaxError, ValueError, RecursionError):
        return None


def _choose(blocks: list[_Block], stripped: list[Stripped]) -> _Block:
    """The block that defines `class Net` (the last such, a model's revised version), else the largest; a block that
    defines `supported_hyperparameters()` which the chosen one lacks is put in front of it."""
    trees = [_try_parse(b.text) for b in blocks]
    with_net = [i for i, tree in enumerate(trees) if _defines(tree, "Net")]
    if not with_net:  # perhaps a block that does not parse (the check will say where)
        with_net = [i for i, b in enumerate(blocks) if re.search(r"^\s*class Net\b", b.text, re.MULTILINE)]
    chosen = with_net[-1] if with_net else max(range(len(blocks)), key=lambda i: len(blocks[i].text.strip()))
    block = blocks[chosen]
    parts = [chosen]
    if not _defines(trees[chosen], "supported_hyperparameters") and "def supported_hyperparameters" not in block.text:
        helper = next(
            (i for i, tree in enumerate(trees) if i != chosen and _defines(tree, "supported_hyperparameters")), None
        )
        if helper is not None:
            parts = sorted([helper, chosen])
    for i, other in enumerate(blocks):
        if i not in parts:
            stripped.append(Stripped("other_block", other.start, _snippet(other.text)))
    if len(parts) == 1:
        return block
    first, second = (blocks[i] for i in parts)
    joined = first.text + "\n\n" + second.text
    return _Block(first.start, joined.split("\n"), first.closed and second.closed)


def _unfenced(lines: list[str], stripped: list[Stripped]) -> _Block | None:
    """Code without fences: from the first line that can start a module to the longest end that parses."""
    if _try_parse("\n".join(lines)) is not None:  # plain source, e.g. a net read from a file
        start = next((i for i, line in enumerate(lines) if line.strip()), None)
    else:
        start = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), None)
    if start is None:
        return None
    first_prose = next((i for i, line in enumerate(lines[:start]) if line.strip()), None)
    if first_prose is not None:
        stripped.append(Stripped("prose", first_prose + 1, _snippet("\n".join(lines[first_prose:start]))))
    return _Block(start, lines[start:], closed=False)  # the caller trims trailing prose or classifies it


def _trim_trailing_prose(block: _Block, stripped: list[Stripped]) -> tuple[str, ast.Module] | None:
    """The block without the prose after its code: the longest head that parses, if what follows it reads as prose
    (an unindented line that is not Python). None when the code itself is cut short or broken."""
    lines = block.lines
    for end in range(len(lines) - 1, 0, -1):
        tail = [line for line in lines[end:] if line.strip()]
        if not tail or not _looks_like_prose(tail[0]):
            continue
        head = "\n".join(lines[:end])
        tree = _try_parse(textwrap.dedent(head).strip("\n") + "\n")
        if tree is not None and any(isinstance(n, ast.ClassDef | ast.FunctionDef) for n in tree.body):
            stripped.append(Stripped("prose", block.start + end + 1, _snippet("\n".join(tail))))
            return textwrap.dedent(head).strip("\n") + "\n", tree
    return None


def _looks_like_prose(line: str) -> bool:
    if line[:1].isspace() or _CODE_START.match(line):
        return False
    if re.match(r"^[A-Za-z_][\w.]*\s*(=|\(|\[|:)", line):  # an assignment, a call, a subscript
        return False
    return bool(re.match(r"^(\W{0,3}\s*)?[A-Za-z*#>\-\d]", line)) and " " in line.strip()


def _ends_cleanly(block: _Block) -> bool:
    """An unclosed block whose last line is complete and unindented (so it did not just run out of tokens)."""
    last = next((line for line in reversed(block.lines) if line.strip()), "")
    return not last[:1].isspace() and not last.rstrip().endswith((":", ",", "(", "[", "{", "\\"))


# ---- module-level code ----------------------------------------------------------------------------------------------


def _is_constant(node: ast.expr) -> bool:
    """A value that runs nothing: literals, names, attributes, and containers/operators of those."""
    if isinstance(node, ast.Constant | ast.Name | ast.Attribute):
        return not isinstance(node, ast.Attribute) or _is_constant(node.value)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return all(_is_constant(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is None or _is_constant(k) for k in node.keys) and all(_is_constant(v) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        return _is_constant(node.operand)
    if isinstance(node, ast.BinOp):
        return _is_constant(node.left) and _is_constant(node.right)
    return False


def _bound_names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return {n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)}


def _used_names(nodes: list[ast.stmt]) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _module_root(node: ast.Import | ast.ImportFrom) -> str:
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0]
    return node.names[0].name.split(".")[0]


def _demo_kind(node: ast.stmt) -> str | None:
    """Why a module-level statement is demo code, or None if it belongs to the module."""
    if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return None
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
        return None  # a docstring or a string used as a comment
    if isinstance(node, ast.Assign | ast.AnnAssign):
        value = node.value
        return None if value is None or _is_constant(value) else "module_code"
    if isinstance(node, ast.If) and "__name__" in ast.unparse(node.test):
        return "main_block"
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        return "print" if isinstance(func, ast.Name) and func.id == "print" else "module_code"
    return "module_code"


def _strip_module_code(code: str, tree: ast.Module, block_start: int, stripped: list[Stripped]) -> str:
    body = tree.body
    kinds = {id(node): _demo_kind(node) for node in body}
    kept = [node for node in body if kinds[id(node)] is None]
    # An assignment the kept code reads stays, whatever its value (the net needs it to build).
    while True:
        needed = _used_names(kept)
        revived = [
            n
            for n in body
            if kinds[id(n)] == "module_code" and isinstance(n, ast.Assign | ast.AnnAssign) and _bound_names(n) & needed
        ]
        if not revived:
            break
        for node in revived:
            kinds[id(node)] = None
        kept = [node for node in body if kinds[id(node)] is None]
    removed = [node for node in body if kinds[id(node)] is not None]
    drop: dict[int, str] = {id(node): str(kinds[id(node)]) for node in removed}
    seen_imports: set[str] = set()
    used_by_kept = _used_names([n for n in kept if not isinstance(n, ast.Import | ast.ImportFrom)])
    used_by_removed = _used_names(removed)
    for node in kept:
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        key = ast.unparse(node)
        names = _bound_names(node)
        if key in seen_imports:
            drop[id(node)] = "duplicate_import"
        elif names & used_by_removed and not names & used_by_kept and _module_root(node) not in _ALWAYS_IMPORTABLE:
            drop[id(node)] = "unused_import"
        seen_imports.add(key)
    if not drop:
        return code
    lines = code.split("\n")
    for node in body:
        kind = drop.get(id(node))
        if kind is None:
            continue
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        end = node.end_lineno or node.lineno
        stripped.append(Stripped(kind, block_start + first, _snippet("\n".join(lines[first - 1 : end]))))
        for index in range(first - 1, end):
            lines[index] = "\0"
    kept_lines = [line for line in lines if line != "\0"]
    return re.sub(r"\n{4,}", "\n\n\n", "\n".join(kept_lines)).strip("\n") + "\n"
