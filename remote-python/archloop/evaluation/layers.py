"""A candidate's layer graph, recorded during the validation forward and read back by the parent.

`record_layers` (in the sandboxed child) puts a forward hook on every leaf module, forwards the input, and lists the
leaf calls in order: qualified name, type, own parameter count, output shape, the earlier calls whose outputs it
consumed, and the candidate line that constructed the module (from the ast: the `self.<name> = ...` assignment in the
owning class, or the element of an `nn.Sequential(...)` call). `read_layers` (in the parent) re-checks the child's
list, which is untrusted: wrong types or sizes drop the whole graph, long strings are cut.
"""

from __future__ import annotations

import ast
from typing import Any, TypeGuard

MAX_LAYERS = 2000
MAX_NAME = 200
MAX_TYPE = 64
MAX_DIMS = 8
MAX_INPUTS = 8


def _assignment_lines(code: str) -> dict[str, dict[str, tuple[int, list[int]]]]:
    """class name -> attribute -> (line of `self.attr = ...`, lines of its Sequential elements if it is one)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return {}
    classes: dict[str, dict[str, tuple[int, list[int]]]] = {}
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        attrs = classes.setdefault(cls.name, {})
        for node in ast.walk(cls):
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign):
                targets, value = [node.target], node.value
            else:
                continue
            for target in targets:
                # The first assignment builds the module; later ones usually reuse it.
                if _is_self_attribute(target) and target.attr not in attrs:
                    attrs[target.attr] = (node.lineno, _sequential_elements(value))
    return classes


def _is_self_attribute(target: ast.expr) -> TypeGuard[ast.Attribute]:
    return isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self"


def _sequential_elements(value: ast.expr | None) -> list[int]:
    if not isinstance(value, ast.Call) or any(isinstance(a, ast.Starred) for a in value.args):
        return []
    func = value.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return [a.lineno for a in value.args] if name == "Sequential" else []


def _source_line(net: Any, qualified: str, classes: dict[str, dict[str, tuple[int, list[int]]]]) -> int | None:
    """The deepest construction line the source explains for the module at `qualified` (None when none does)."""
    parts = qualified.split(".") if qualified else []
    owners = [net]
    for part in parts[:-1]:
        owners.append(getattr(owners[-1], part, None) if not part.isdigit() else owners[-1][int(part)])
    for depth in range(len(parts) - 1, -1, -1):
        attrs = classes.get(type(owners[depth]).__name__, {})
        if parts[depth] in attrs:
            line, elements = attrs[parts[depth]]
            nxt = parts[depth + 1] if depth + 1 < len(parts) else None
            if nxt is not None and nxt.isdigit() and int(nxt) < len(elements):
                return elements[int(nxt)]
            return line
    return None


def record_layers(net: Any, x: Any, code: str) -> tuple[Any, list[dict[str, Any]], bool]:
    """Forward `x` through `net` with hooks on its leaf modules: (output, layers, truncated)."""
    import torch

    layers: list[dict[str, Any]] = []
    producers: dict[int, int] = {}
    keep: list[Any] = []  # holds outputs alive so their ids cannot be reused by later tensors
    # A tensor no module produced came from functional code (x + shortcut, F.relu...): it is charged to the outputs
    # no module has read yet (both branches of a residual add), and remembered, so every reader gets the same edges.
    derived: dict[int, list[int]] = {}
    unconsumed: set[int] = set()

    def _sources_of(t: Any) -> list[int]:
        if id(t) in producers:
            return [producers[id(t)]]
        if id(t) not in derived:
            pending = sorted(unconsumed)[-MAX_INPUTS:]
            derived[id(t)] = pending or ([len(layers) - 1] if layers else [])
            keep.append(t)
        return derived[id(t)]

    truncated = False
    classes = _assignment_lines(code)
    lines: dict[str, int | None] = {}

    def hook(name: str) -> Any:
        def on_forward(module: Any, inputs: tuple[Any, ...], output: Any) -> None:
            nonlocal truncated
            if len(layers) >= MAX_LAYERS:
                truncated = True
                return
            tensor = (
                output
                if isinstance(output, torch.Tensor)
                else next((o for o in output if isinstance(o, torch.Tensor)), None)
                if isinstance(output, tuple | list)
                else None
            )
            found: set[int] = set()
            for t in inputs:
                if isinstance(t, torch.Tensor):
                    found.update(_sources_of(t))
            sources = sorted(found)
            unconsumed.difference_update(sources)
            if name not in lines:
                try:
                    lines[name] = _source_line(net, name, classes)
                except Exception:  # noqa: BLE001 - an odd container (a ModuleDict of digits...) only costs the line
                    lines[name] = None
            layers.append(
                {
                    "name": name[:MAX_NAME],
                    "type": type(module).__name__[:MAX_TYPE],
                    "params": int(sum(p.numel() for p in module.parameters(recurse=False))),
                    "shape": list(tensor.shape)[:MAX_DIMS] if tensor is not None else None,
                    "inputs": sources[-MAX_INPUTS:],
                    "line": lines[name],
                }
            )
            if tensor is not None:
                producers[id(tensor)] = len(layers) - 1
                keep.append(tensor)
                unconsumed.add(len(layers) - 1)

        return on_forward

    handles = [
        module.register_forward_hook(hook(name))
        for name, module in net.named_modules()
        if name and next(iter(module.children()), None) is None
    ]
    try:
        out = net(x)
    finally:
        for handle in handles:
            handle.remove()
    return out, layers, truncated


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53


def read_layers(raw: Any) -> list[dict[str, Any]] | None:
    """The child's layer list checked field by field, or None when it is malformed in any way."""
    if not isinstance(raw, list) or len(raw) > MAX_LAYERS:
        return None
    layers: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            return None
        name, kind, params, shape, inputs, line = (
            item.get(k) for k in ("name", "type", "params", "shape", "inputs", "line")
        )
        if not isinstance(name, str) or not isinstance(kind, str) or not _count(params):
            return None
        if shape is not None and not (
            isinstance(shape, list) and len(shape) <= MAX_DIMS and all(_count(d) for d in shape)
        ):
            return None
        if not isinstance(inputs, list) or len(inputs) > MAX_INPUTS:
            return None
        if not all(_count(i) and i < index for i in inputs):  # edges point backwards: the graph stays acyclic
            return None
        if line is not None and not (_count(line) and line >= 1):
            return None
        layers.append(
            {
                "name": name[:MAX_NAME],
                "type": kind[:MAX_TYPE],
                "params": params,
                "shape": shape,
                "inputs": inputs,
                "line": line,
            }
        )
    return layers
