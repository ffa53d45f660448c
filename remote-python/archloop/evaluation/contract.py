"""Static check of the LEMUR API contract (docs/METHOD.md, "The contract every net must satisfy").

`check_source` reads a candidate's source with `ast` and never executes it, so it is safe to call in the parent
process on untrusted LLM output before anything reaches the sandbox. It never raises for bad *source*: a syntax
error, a missing `Net`, a wrong signature or a hyperparameter mismatch all come back as a `ContractReport` with
`ok=False`, an `outcome` from the wire protocol ('syntax_error' | 'contract_error') and one `ContractProblem` per
violation, each with the line it points at. Only a non-`str` argument raises (`TypeError`), as a programming error.

The dynamic half of the contract (instantiate, forward a (1,3,32,32) tensor, output (1,10)) needs to run code and
therefore lives with the sandbox/evaluator, not here.

One module though over 400 lines: the contract is one AST walk, and its rules share that walk's state.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from archloop.pysource import parse_source

OUTCOME_OK = "ok"
OUTCOME_SYNTAX_ERROR = "syntax_error"
OUTCOME_CONTRACT_ERROR = "contract_error"

# The paper's evaluation settings, as the prm values a LEMUR net reads (lr and momentum are used directly as SGD
# settings, the way LEMUR's nets do; dropout is a probability; weight_decay 0 means "off").
PAPER_HYPERPARAMETER_DEFAULTS: dict[str, float] = {"lr": 0.01, "momentum": 0.9, "dropout": 0.2, "weight_decay": 0.0}
KNOWN_HYPERPARAMETERS: frozenset[str] = frozenset(PAPER_HYPERPARAMETER_DEFAULTS)
# Keys LEMUR's trainer (and the evaluator, evaluate.candidate_prm) always put into prm, declared or not: LEMUR's
# corpus holds nets that read prm['dropout'] or prm['batch'] without declaring them, trained fine.
TRAINER_SUPPLIED_KEYS: frozenset[str] = frozenset({"lr", "momentum", "dropout", "batch", "transform", "epoch"})

# Modules a CIFAR-10 architecture has no business importing: process spawning, networking, raw memory access.
# This is a cheap early signal for the UI, not the security boundary (the sandbox is).
FORBIDDEN_MODULES: frozenset[str] = frozenset(
    {"subprocess", "socket", "ctypes", "multiprocessing", "shutil", "urllib", "http", "requests", "ftplib", "pty"}
)

# Larger sources are refused before parsing: a real net is a few KiB, and ast on megabytes costs the parent time.
MAX_SOURCE_CHARS = 1_000_000

# Expected positional parameters (after self) of each required method. Only the arity matters: LEMUR's trainer and
# the evaluator call every method positionally, so `Net(self, shape_a, shape_b, params, device)` binds as well.
_METHOD_ARITY = {"__init__": 4, "forward": 1, "train_setup": 1, "learn": 1}
_METHOD_SHAPES = {
    "__init__": "(self, in_shape, out_shape, prm, device)",
    "forward": "(self, x)",
    "train_setup": "(self, prm)",
    "learn": "(self, train_data)",
}


@dataclass(frozen=True)
class ContractProblem:
    """One violation. `kind` is a stable machine name; `message` is for people and already names the line."""

    kind: str
    line: int | None
    message: str


@dataclass(frozen=True)
class ContractReport:
    """Result of `check_source`. `message`/`line` repeat the first problem so a one-line UI needs nothing else."""

    ok: bool
    outcome: str
    message: str | None
    line: int | None
    hyperparameters: frozenset[str]
    problems: tuple[ContractProblem, ...]


def hyperparameter_defaults(names: Iterable[str]) -> dict[str, float]:
    """The paper's prm values for the given hyperparameter names (lr 0.01, momentum 0.9, dropout 0.2, wd 0).

    Raises ValueError naming every name it has no value for; `check_source` reports such names as
    `unknown_hyperparameter` first, so a net that passed the check never gets here with one.
    """
    wanted = sorted(set(names))
    unknown = [name for name in wanted if name not in PAPER_HYPERPARAMETER_DEFAULTS]
    if unknown:
        raise ValueError(
            f"no default value for hyperparameter(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_HYPERPARAMETERS))}"
        )
    return {name: PAPER_HYPERPARAMETER_DEFAULTS[name] for name in wanted}


def check_source(source: str, known_hyperparameters: frozenset[str] | None = KNOWN_HYPERPARAMETERS) -> ContractReport:
    """Check `source` against the LEMUR contract without executing it.

    `known_hyperparameters=None` accepts any declared name (useful when importing a corpus whose nets use more than
    the paper's four); by default a name the evaluator cannot give a value to is an `unknown_hyperparameter`.
    Never raises for any `str` input; raises TypeError for a non-`str`.
    """
    if not isinstance(source, str):
        raise TypeError(f"check_source expects the source as str, got {type(source).__name__}")
    if len(source) > MAX_SOURCE_CHARS:
        return _report(
            [
                ContractProblem(
                    "too_large", None, f"source is {len(source):,} characters; the limit is {MAX_SOURCE_CHARS:,}"
                )
            ],
            frozenset(),
        )
    try:
        tree = parse_source(source)
    except SyntaxError as error:
        line = error.lineno
        where = f"line {line}: " if line else ""
        problem = ContractProblem("syntax", line, f"{where}syntax error: {error.msg}")
        return _report([problem], frozenset(), outcome=OUTCOME_SYNTAX_ERROR)
    except (ValueError, RecursionError, MemoryError) as error:
        # ValueError: NUL bytes in the source; RecursionError/MemoryError: absurdly nested expressions.
        problem = ContractProblem("syntax", None, f"source cannot be parsed: {type(error).__name__}: {error}")
        return _report([problem], frozenset(), outcome=OUTCOME_SYNTAX_ERROR)
    try:
        return _check_tree(tree, known_hyperparameters)
    except RecursionError:
        problem = ContractProblem("syntax", None, "source is nested too deeply to analyse")
        return _report([problem], frozenset(), outcome=OUTCOME_SYNTAX_ERROR)


def _report(
    problems: list[ContractProblem], hyperparameters: frozenset[str], outcome: str | None = None
) -> ContractReport:
    problems = sorted(problems, key=lambda problem: (problem.line is None, problem.line or 0))
    if not problems:
        return ContractReport(True, OUTCOME_OK, None, None, hyperparameters, ())
    message = "; ".join(problem.message for problem in problems)
    return ContractReport(
        ok=False,
        outcome=outcome or OUTCOME_CONTRACT_ERROR,
        message=message,
        line=problems[0].line,
        hyperparameters=hyperparameters,
        problems=tuple(problems),
    )


def _at(line: int | None, text: str) -> str:
    return f"line {line}: {text}" if line else text


def _check_tree(tree: ast.Module, known: frozenset[str] | None) -> ContractReport:
    problems: list[ContractProblem] = []
    problems.extend(_forbidden_imports(tree))
    declared, declared_problems = _declared_hyperparameters(tree)
    problems.extend(declared_problems)

    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    net = classes.get("Net")
    prm_names = {"prm"}
    if net is None:
        problems.append(ContractProblem("missing_net", None, "no module-level class Net(nn.Module)"))
    else:
        net_problems, prm_names = _check_net(net, classes, _torch_names(tree))
        problems.extend(net_problems)

    if declared is not None:
        problems.extend(_hyperparameter_usage(tree, declared, prm_names, known))
    return _report(problems, frozenset(declared or ()))


def _forbidden_imports(tree: ast.Module) -> Iterator[ContractProblem]:
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
        for module in modules:
            if module.split(".")[0] in FORBIDDEN_MODULES:
                yield ContractProblem(
                    "forbidden_import", node.lineno, _at(node.lineno, f"import of '{module}' is not allowed in a net")
                )


def _declared_hyperparameters(tree: ast.Module) -> tuple[set[str] | None, list[ContractProblem]]:
    """The names in `supported_hyperparameters()`'s returned set literal, or None when they cannot be read.

    The last module-level definition wins, as it does when Python runs the module.
    """
    function = next(
        (
            node
            for node in reversed(tree.body)
            if isinstance(node, ast.FunctionDef) and node.name == "supported_hyperparameters"
        ),
        None,
    )
    if function is None:
        problem = ContractProblem(
            "missing_supported_hyperparameters", None, "no module-level def supported_hyperparameters()"
        )
        return None, [problem]
    problems: list[ContractProblem] = []
    if function.args.args or function.args.posonlyargs or function.args.kwonlyargs:
        problems.append(
            ContractProblem(
                "wrong_signature",
                function.lineno,
                _at(function.lineno, "supported_hyperparameters() must take no arguments"),
            )
        )
    returned = next((node for node in function.body if isinstance(node, ast.Return)), None)
    line = returned.lineno if returned else function.lineno
    literal = returned.value if returned else None
    # LEMUR's trainer only iterates the result: a set, list or tuple of names, or a dict keyed by them, all work.
    elements = literal.keys if isinstance(literal, ast.Dict) else getattr(literal, "elts", None)
    if not isinstance(literal, (ast.Set, ast.List, ast.Tuple, ast.Dict)) or not all(
        isinstance(element, ast.Constant) and isinstance(element.value, str) for element in elements or ()
    ):
        found = ast.unparse(literal) if literal is not None else "nothing"
        problems.append(
            ContractProblem(
                "not_a_set",
                line,
                _at(
                    line,
                    "supported_hyperparameters() must return a literal set (or list, tuple, dict) of names like "
                    f"{{'lr', 'momentum'}}, found {found}",
                ),
            )
        )
        return None, problems
    names = {element.value for element in elements or () if isinstance(element, ast.Constant)}
    # lr and momentum need no declaration: the trainer always supplies them (TRAINER_SUPPLIED_KEYS).
    return names, problems


def _is_nn_module(base: ast.expr, torch_names: set[str]) -> bool:
    # nn.Module, torch.nn.Module, a bare Module imported from torch.nn, or any class reached through a name imported
    # from torch or torchvision (class Net(densenet.DenseNet)): those are nn.Modules LEMUR's trainer builds alike.
    if isinstance(base, ast.Attribute) and base.attr == "Module":
        return True
    if isinstance(base, ast.Name) and base.id == "Module":
        return True
    root = base
    while isinstance(root, ast.Attribute):
        root = root.value
    return isinstance(root, ast.Name) and root.id in torch_names


def _torch_names(tree: ast.Module) -> set[str]:
    """Module-level names bound by imports from torch or torchvision."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(
                (alias.asname or alias.name).split(".")[0]
                for alias in node.names
                if alias.name.split(".")[0] in ("torch", "torchvision")
            )
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("torch", "torchvision"):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _base_name(base: ast.expr) -> str | None:
    return base.id if isinstance(base, ast.Name) else None


def _lineage(net: ast.ClassDef, classes: dict[str, ast.ClassDef]) -> list[ast.ClassDef]:
    """Net followed by its module-level ancestors, depth first, each once (a cheap stand-in for the MRO)."""
    order: list[ast.ClassDef] = []
    pending = [net]
    while pending:
        current = pending.pop(0)
        if current in order:
            continue
        order.append(current)
        for base in current.bases:
            name = _base_name(base)
            if name and name in classes and classes[name] is not current:
                pending.append(classes[name])
    return order


def _check_net(
    net: ast.ClassDef, classes: dict[str, ast.ClassDef], torch_names: set[str]
) -> tuple[list[ContractProblem], set[str]]:
    problems: list[ContractProblem] = []
    lineage = _lineage(net, classes)
    if not any(_is_nn_module(base, torch_names) for cls in lineage for base in cls.bases):
        problems.append(ContractProblem("wrong_base", net.lineno, _at(net.lineno, "class Net must subclass nn.Module")))

    methods: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for cls in reversed(lineage):  # later (closer to Net) definitions override inherited ones
        for node in cls.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                methods[node.name] = node

    prm_names = {"prm"}
    for name, shape in _METHOD_SHAPES.items():
        method = methods.get(name)
        if method is None:
            problems.append(
                ContractProblem("missing_method", net.lineno, _at(net.lineno, f"class Net has no method {name}{shape}"))
            )
            continue
        if isinstance(method, ast.AsyncFunctionDef):
            problems.append(
                ContractProblem(
                    "wrong_signature",
                    method.lineno,
                    _at(method.lineno, f"Net.{name} must be a plain def, not async def"),
                )
            )
            continue
        problem = _signature_problem(name, method)
        if problem:
            problems.append(problem)
        positional = [arg.arg for arg in (*method.args.posonlyargs, *method.args.args)]
        if name == "__init__" and len(positional) >= 4:
            prm_names.add(positional[3])
        if name == "train_setup" and len(positional) >= 2:
            prm_names.add(positional[1])
    return problems, prm_names


def _signature_problem(name: str, method: ast.FunctionDef) -> ContractProblem | None:
    """A problem if the trainer's positional call (self + the contract's arguments) would not bind, else None."""
    args = method.args
    positional = [*args.posonlyargs, *args.args]
    names = [arg.arg for arg in positional]
    required = len(positional) - len(args.defaults)
    kwonly_required = [
        arg.arg for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True) if default is None
    ]
    expected = 1 + _METHOD_ARITY[name]
    binds = required <= expected and (len(positional) >= expected or args.vararg is not None) and not kwonly_required
    if binds:
        return None
    found = ", ".join(
        names + ([f"*{args.vararg.arg}"] if args.vararg else []) + [f"{n} (keyword-only)" for n in kwonly_required]
    )
    return ContractProblem(
        "wrong_signature",
        method.lineno,
        _at(method.lineno, f"Net.{name} must take {_METHOD_SHAPES[name]}, found ({found})"),
    )


def _is_prm(node: ast.expr, prm_names: set[str]) -> bool:
    # prm, or self.prm / self._prm-style attributes whose name is one of the prm parameter names.
    if isinstance(node, ast.Name):
        return node.id in prm_names
    return isinstance(node, ast.Attribute) and node.attr in prm_names


def _prm_reads(tree: ast.Module, prm_names: set[str]) -> Iterator[tuple[str, int, bool]]:
    """(name, line, required) for every prm['name'] read, prm['name'] = ... / prm.setdefault('name', ...) write
    and prm.get('name'[, default]) with a literal key. `required` is True only for a subscript read: a `get`
    never raises, and a key the net writes itself needs nobody to supply it.

    A computed key (prm[k]) cannot be resolved statically and is ignored, so it never causes a false error.
    """
    for node in ast.walk(tree):
        key: ast.expr | None = None
        required = False
        if isinstance(node, ast.Subscript) and _is_prm(node.value, prm_names):
            key, required = node.slice, isinstance(node.ctx, ast.Load)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get", "setdefault", "pop")
            and _is_prm(node.func.value, prm_names)
            and node.args
        ):
            key = node.args[0]
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            yield key.value, node.lineno, required


def _hyperparameter_usage(
    tree: ast.Module, declared: set[str], prm_names: set[str], known: frozenset[str] | None
) -> Iterator[ContractProblem]:
    declaration_line = next(
        (
            n.lineno
            for n in reversed(tree.body)
            if isinstance(n, ast.FunctionDef) and n.name == "supported_hyperparameters"
        ),
        None,
    )
    if known is not None:
        for name in sorted(declared - known):
            yield ContractProblem(
                "unknown_hyperparameter",
                declaration_line,
                _at(
                    declaration_line,
                    f"hyperparameter '{name}' is not one the evaluator supplies ({', '.join(sorted(known))})",
                ),
            )
    first_read: dict[str, int] = {}
    for name, line, required in _prm_reads(tree, prm_names):
        if required:
            first_read.setdefault(name, line)
    # A key only read with .get, one the net writes itself, or one LEMUR's trainer always adds needs no declaration.
    # A declared name never read is harmless (LEMUR samples and trains it), so it is no problem either.
    supplied = declared | TRAINER_SUPPLIED_KEYS | _written_keys(tree, prm_names)
    for name in sorted(set(first_read) - supplied):
        line = first_read[name]
        yield ContractProblem(
            "undeclared_hyperparameter",
            line,
            _at(line, f"prm['{name}'] is read but '{name}' is not in supported_hyperparameters()"),
        )


def _written_keys(tree: ast.Module, prm_names: set[str]) -> set[str]:
    """Literal keys the net stores into prm itself (prm['k'] = v, prm.setdefault('k', v))."""
    written: set[str] = set()
    for node in ast.walk(tree):
        key: ast.expr | None = None
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) and _is_prm(node.value, prm_names):
            key = node.slice
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "setdefault"
            and _is_prm(node.func.value, prm_names)
            and node.args
        ):
            key = node.args[0]
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            written.add(key.value)
    return written
