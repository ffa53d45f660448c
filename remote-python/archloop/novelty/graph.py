"""Novelty by layer graph: a net's data-flow graph read from its source (never run), compared by Weisfeiler-Lehman
subtree labels.

The graph: per class, the modules its `__init__` assigns to `self` (an `nn.Sequential` of literal layers is expanded
into its chain) and the calls its `forward` makes, linked by the variables that carry tensors from call to call.
A node's label is the layer or function type (`Conv2d`, `relu`, `cat`, `add` for a residual sum, `block` for a
module class defined in the file); names of variables, attributes and classes and every literal (widths, kernel
sizes) are left out, so a renamed or re-widthed net has the same graph.

Similarity: the multiset of WL subtree hashes of every node (networkx's `weisfeiler_lehman_subgraph_hashes`, initial
labels and 3 iterations), compared by cosine over hashed count vectors. `GraphIndex` holds them as a sparse matrix so
a query is one sparse matrix-vector product over all stored nets.
"""

from __future__ import annotations

import ast
import math
import warnings
from collections import Counter
from dataclasses import dataclass

import networkx as nx
import numpy as np
from scipy import sparse

from archloop.pysource import parse_source

WL_ITERATIONS = 3
_FEATURES = 1 << 22  # hashed feature space: collisions are rare at a few hundred features per net
_METADATA = {"size", "dim", "numel", "shape", "item", "len", "range", "int", "float", "isinstance", "super"}


def layer_graph(code: str) -> nx.DiGraph:
    """The data-flow graph of every class in `code` (disjoint union). Raises ValueError if the code does not parse."""
    try:
        tree = parse_source(code)
    except (SyntaxError, ValueError, RecursionError) as error:
        raise ValueError(f"cannot build the layer graph of unparseable code: {error}") from None
    local_classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    local_functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    graph = nx.DiGraph()
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            _ClassGraph(graph, node, local_classes, local_functions).build()
    return graph


def wl_features(code: str) -> Counter[str]:
    """The multiset of WL subtree hashes of the code's layer graph (empty for code with no classes)."""
    graph = layer_graph(code)
    with warnings.catch_warnings():
        # networkx >= 3.5 (required) warns once that directed-graph hashes differ from older versions'.
        warnings.simplefilter("ignore", UserWarning)
        hashes = nx.weisfeiler_lehman_subgraph_hashes(
            graph, node_attr="label", iterations=WL_ITERATIONS, include_initial_labels=True
        )
    return Counter(label for labels in hashes.values() for label in labels)


def cosine(a: Counter[str], b: Counter[str]) -> float:
    """Cosine similarity of two label multisets (0.0 when either is empty)."""
    dot = sum(count * b[label] for label, count in a.items())
    norms = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norms if norms else 0.0


@dataclass(frozen=True)
class GraphMatch:
    similarity: float
    nearest: str | None


class GraphIndex:
    """Stored nets' WL feature vectors (unit length, hashed to a fixed width) for nearest-by-cosine queries.

    Rows since the last rebuild wait in a list and are stacked into the matrix when they reach an eighth of it, so
    n additions cost O(n log n) row copies rather than a copy per addition.
    """

    def __init__(self) -> None:
        self._keys: list[str] = []
        self._rows: set[str] = set()
        self._matrix = sparse.csr_matrix((0, _FEATURES), dtype=np.float64)
        self._pending: list[sparse.csr_matrix] = []

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: str, code: str) -> None:
        """Index `code` under `key`; ValueError for a key already present or code that does not parse."""
        self.add_vector(key, graph_vector(code))

    def add_vector(self, key: str, row: sparse.csr_matrix) -> None:
        """Index a precomputed `graph_vector` under `key`."""
        if key in self._rows:
            raise ValueError(f"key already in the graph index: {key}")
        self._keys.append(key)
        self._rows.add(key)
        self._pending.append(row)
        if len(self._pending) * 8 >= max(64, self._matrix.shape[0]):
            self._stack()

    def query(self, code: str) -> GraphMatch:
        """The stored net with the highest cosine to `code` (ties to the earliest added); 0.0 and None if empty."""
        return self.query_vector(graph_vector(code))

    def query_vector(self, vector: sparse.csr_matrix) -> GraphMatch:
        if not self._keys:
            return GraphMatch(0.0, None)
        self._stack()
        scores = self._matrix @ vector.T
        dense = np.asarray(scores.todense()).ravel()
        best = int(np.argmax(dense))
        return GraphMatch(float(min(1.0, max(0.0, dense[best]))), self._keys[best])

    def _stack(self) -> None:
        if self._pending:
            self._matrix = sparse.vstack([self._matrix, *self._pending], format="csr")
            self._pending = []


def graph_vector(code: str) -> sparse.csr_matrix:
    """The code's WL label counts, hashed to a fixed width and scaled to unit length (a 1-row sparse matrix)."""
    return _vector(wl_features(code))


def _vector(features: Counter[str]) -> sparse.csr_matrix:
    columns: Counter[int] = Counter()
    for label, count in features.items():
        columns[int(label[:12], 16) % _FEATURES] += count
    indices = np.array(sorted(columns), dtype=np.int64)
    values = np.array([columns[column] for column in indices], dtype=np.float64)
    norm = float(np.linalg.norm(values))
    if norm:
        values /= norm
    return sparse.csr_matrix((values, indices, [0, len(indices)]), shape=(1, _FEATURES))


class _ClassGraph:
    """Adds one class's modules and forward data flow to the shared graph."""

    def __init__(
        self, graph: nx.DiGraph, node: ast.ClassDef, local_classes: set[str], local_functions: set[str]
    ) -> None:
        self.graph = graph
        self.node = node
        self.local_classes = local_classes
        self.local_functions = local_functions
        self.prefix = f"{node.name}:"
        self.modules: dict[str, list[str]] = {}  # self attribute -> layer labels (a chain for a Sequential)
        self.count = 0

    def build(self) -> None:
        methods = {item.name: item for item in self.node.body if isinstance(item, ast.FunctionDef)}
        if "__init__" in methods:
            for statement in ast.walk(methods["__init__"]):
                if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Call):
                    for target in statement.targets:
                        if _is_self_attribute(target):
                            self.modules[target.attr] = self._module_labels(statement.value)
        forward = methods.get("forward")
        if forward is None:
            # No forward: the modules alone, as a chain in assignment order.
            previous: set[str] = set()
            for labels in self.modules.values():
                previous = self._chain(labels, previous)
            return
        variables: dict[str, set[str]] = {}
        inputs = self._add("input", set())
        for argument in forward.args.args[1:]:
            variables[argument.arg] = {inputs}
        self._statements(forward.body, variables)

    def _add(self, label: str, sources: set[str]) -> str:
        name = f"{self.prefix}{self.count}"
        self.count += 1
        self.graph.add_node(name, label=label)
        for source in sources:
            self.graph.add_edge(source, name)
        return name

    def _chain(self, labels: list[str], sources: set[str]) -> set[str]:
        for label in labels:
            sources = {self._add(label, sources)}
        return sources

    def _module_labels(self, call: ast.Call) -> list[str]:
        leaf = _leaf(call.func)
        if leaf == "Sequential" and call.args and all(isinstance(arg, ast.Call) for arg in call.args):
            return [label for arg in call.args for label in self._module_labels(arg)]  # type: ignore[arg-type]
        if leaf in self.local_classes:
            return ["block"]
        if leaf in self.local_functions:
            return ["helper"]
        return [leaf or "module"]

    def _statements(self, body: list[ast.stmt], variables: dict[str, set[str]]) -> None:
        for statement in body:
            if isinstance(statement, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                if statement.value is None:
                    continue
                produced = self._expression(statement.value, variables)
                if isinstance(statement, ast.AugAssign):
                    old = set().union(*(variables.get(name, set()) for name in _names(statement.target)))
                    produced = {self._add(_operator(statement.op), produced | old)}
                for target in targets:
                    for name in _names(target):
                        variables[name] = produced
            elif isinstance(statement, ast.Return) and statement.value is not None:
                self._add("output", self._expression(statement.value, variables))
            elif isinstance(statement, ast.Expr):
                self._expression(statement.value, variables)
            elif isinstance(statement, (ast.For, ast.While, ast.If, ast.With)):
                if isinstance(statement, ast.For):
                    for name in _names(statement.target):
                        variables[name] = self._expression(statement.iter, variables)
                self._statements(statement.body, variables)
                self._statements(getattr(statement, "orelse", []), variables)

    def _expression(self, node: ast.expr, variables: dict[str, set[str]]) -> set[str]:
        if isinstance(node, ast.Name):
            return set(variables.get(node.id, set()))
        if isinstance(node, ast.Constant):
            return set()
        if isinstance(node, ast.Call):
            sources: set[str] = set()
            for argument in [*node.args, *(keyword.value for keyword in node.keywords)]:
                sources |= self._expression(argument, variables)
            receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
            if receiver is not None and not _is_self_attribute(node.func) and not _is_module_path(receiver):
                sources |= self._expression(receiver, variables)  # x.view(...): the tensor flows in
            leaf = _leaf(node.func)
            if leaf in _METADATA:
                return set()
            if _is_self_attribute(node.func):
                labels = self.modules.get(node.func.attr, ["method"])
                return self._chain(labels, sources)
            if leaf in self.local_classes:
                return {self._add("block", sources)}
            if leaf in self.local_functions:
                return {self._add("helper", sources)}
            return {self._add(leaf or "call", sources)}
        if isinstance(node, ast.BinOp):
            left, right = self._expression(node.left, variables), self._expression(node.right, variables)
            if left and right:
                return {self._add(_operator(node.op), left | right)}
            return left | right  # scaling by a constant: the same tensor
        result: set[str] = set()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                result |= self._expression(child, variables)
        return result


def _is_self_attribute(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"


def _is_module_path(node: ast.expr) -> bool:
    # torch.nn.functional.relu, F.relu, nn.Conv2d: a library path, not a tensor.
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name) and node.id in {"torch", "nn", "F", "functional", "math", "np"}


def _leaf(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _names(element)]
    return []


def _operator(op: ast.operator) -> str:
    return {ast.Add: "add", ast.Mult: "mul", ast.Sub: "sub", ast.MatMult: "matmul"}.get(type(op), "op")
