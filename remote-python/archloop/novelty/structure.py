"""Selection-time novelty: a SHA-256 over a net's AST skeleton (classes, blocks, layer-call sequence, residual and
concat flags, depth), for exact-match deduplication. Comments, formatting, literals and local names do not count;
nothing here executes the code it is given."""

from __future__ import annotations

import ast
import builtins
import hashlib
import json
import re

from archloop.pysource import parse_source

# ---- selection time: structural signature ------------------------------------------------------------------

_PARAMETRISED_LAYER = re.compile(r"^(Conv(Transpose)?[123]d|Linear|LazyConv[123]d|LazyLinear|Bilinear)$")
_CONCAT_CALLS = {"cat", "concat", "concatenate", "stack"}
_CONTRACT_METHODS = {"__init__", "forward", "train_setup", "learn"}


def structural_signature(code: str) -> str:
    """SHA-256 (hex) of the code's architecture skeleton, for exact-match deduplication at selection time.

    The skeleton lists, per class and module-level function in definition order: its bases, and per method the
    sequence of control blocks and calls, where library calls keep their dotted name (`torch.nn.Conv2d`,
    `torch.cat`), calls to helpers defined in the module become their definition index, calls on `self` and on
    locals become placeholders, and builtins keep their name. Added are a residual flag (`a + b` of two non-constant
    operands, `+=`, `torch.add` in a forward), a concat flag (`torch.cat`/`stack`) and the depth (the number of
    parametrised layer constructions: Conv*/Linear). Comments, formatting, literals and local names do not count.
    Raises ValueError if the code does not parse.
    """
    try:
        tree = parse_source(code)
    except (SyntaxError, ValueError, RecursionError) as error:
        raise ValueError(f"cannot compute a structural signature of unparseable code: {error}") from None
    skeleton = _Skeleton(tree).describe()
    return hashlib.sha256(json.dumps(skeleton, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class _Skeleton:
    """Builds the JSON-able skeleton that `structural_signature` hashes."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.modules = self._import_aliases(tree)
        definitions = [node for node in tree.body if isinstance(node, (ast.ClassDef, ast.FunctionDef))]
        # Helpers are named by position so that renaming BasicBlock to Block changes nothing; Net and the
        # contract function keep their names because the contract fixes them.
        self.helper_ids = {
            node.name: (node.name if node.name in {"Net", "supported_hyperparameters"} else f"def{position}")
            for position, node in enumerate(definitions)
        }
        self.definitions = definitions
        self.residual = False
        self.concat = False
        self.depth = 0

    @staticmethod
    def _import_aliases(tree: ast.Module) -> dict[str, str]:
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    # `import torch.nn as nn` binds nn to torch.nn; `import torch.nn` binds torch.
                    bound = alias.asname or alias.name.split(".")[0]
                    aliases[bound] = alias.name if alias.asname else bound
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        return aliases

    def describe(self) -> dict[str, object]:
        parts = [self._definition(node) for node in self.definitions]
        return {"definitions": parts, "residual": self.residual, "concat": self.concat, "depth": self.depth}

    def _definition(self, node: ast.ClassDef | ast.FunctionDef) -> dict[str, object]:
        if isinstance(node, ast.FunctionDef):
            return {"function": self.helper_ids[node.name], "body": self._sequence(node.body, in_forward=False)}
        methods = []
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = item.name if item.name in _CONTRACT_METHODS else "method"
                methods.append({"method": name, "body": self._sequence(item.body, in_forward=item.name == "forward")})
        return {
            "class": self.helper_ids[node.name],
            "bases": [self._callee(base) for base in node.bases],
            "methods": methods,
        }

    def _callee(self, func: ast.expr) -> str:
        dotted = self._dotted(func)
        if dotted is None:
            return "expr"
        root, _, rest = dotted.partition(".")
        if root == "self":
            return "self"
        if root in self.helper_ids:
            return self.helper_ids[root] + (f".{rest}" if rest else "")
        if root in self.modules:
            return self.modules[root] + (f".{rest}" if rest else "")
        if not rest and hasattr(builtins, root):
            return root
        return "local" + (f".{rest.rsplit('.', 1)[-1]}" if rest else "")

    def _dotted(self, node: ast.expr) -> str | None:
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        parts.append(node.id)
        return ".".join(reversed(parts))

    def _sequence(self, body: list[ast.stmt], in_forward: bool) -> list[object]:
        sequence: list[object] = []
        for statement in body:
            for node in ast.walk(statement):
                if isinstance(node, (ast.For, ast.While)):
                    sequence.append("loop")
                elif isinstance(node, ast.If):
                    sequence.append("if")
                elif isinstance(node, ast.Call):
                    callee = self._callee(node.func)
                    sequence.append(callee)
                    leaf = callee.rsplit(".", 1)[-1]
                    if _PARAMETRISED_LAYER.match(leaf):
                        self.depth += 1
                    if leaf in _CONCAT_CALLS and callee.startswith("torch"):
                        self.concat = True
                    if in_forward and leaf == "add" and callee.startswith("torch"):
                        self.residual = True
                elif in_forward and _adds_tensors(node):
                    self.residual = True
        return sequence


def _adds_tensors(node: ast.AST) -> bool:
    """`a + b` of two non-literal operands, or `a += b`: how a forward writes a residual connection."""
    if isinstance(node, ast.AugAssign):
        return isinstance(node.op, ast.Add)
    return (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Add)
        and not isinstance(node.left, ast.Constant)
        and not isinstance(node.right, ast.Constant)
    )
