"""Run configuration: a TOML file (optionally naming a preset) parsed into a validated dataclass tree.

A config file looks like the presets in `archloop/presets/*.toml`: top-level `preset = "demo"` picks a base, and
tables (`[run]`, `[model]`, `[generation]`, ...) override single keys of it. Every problem is a `ConfigError` whose
message names the file, the table and the key ("config.toml: [generation] temperature must be a number > 0, got
'hot'"); nothing here raises anything else for bad input.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from archloop.cache import DEFAULT_CACHE_DIR

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on 3.10 hosts
    import tomli as tomllib

PRESET_DIR = Path(__file__).parent / "presets"


class ConfigError(ValueError):
    """A run configuration that cannot be used; the message is meant for the user as is."""


# ---- per-key checks ----------------------------------------------------------------------------------------------
# Each check is (predicate, what a good value is); the parser words the error as "<key> must be <what>, got <value>".
Check = tuple[Callable[[Any], bool], str]


def _positive() -> Check:
    return (lambda v: v > 0, "> 0")


def _positive_or_none() -> Check:
    return (lambda v: v is None or v > 0, "> 0 (or absent)")


def _non_negative() -> Check:
    return (lambda v: v >= 0, ">= 0")


def _unit_interval() -> Check:
    return (lambda v: 0 < v <= 1, "in (0, 1]")


def _percent() -> Check:
    return (lambda v: 0 <= v <= 100, "a percentage in [0, 100]")


def _probability() -> Check:
    return (lambda v: 0 <= v < 1, "in [0, 1)")


def _non_empty() -> Check:
    return (lambda v: len(v) > 0, "non-empty")


def _key(default: Any, check: Check | None = None, doc: str = "") -> Any:
    """A config key: its default, an optional value check and a one-line description (shown by `--help-config`)."""
    metadata = {"check": check, "doc": doc}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


# ---- the tree ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSection:
    name: str = _key("archloop-run", _non_empty(), "a human name for the run")
    cycles: int = _key(22, _positive(), "how many cycles `start` runs (cycle.run adds more)")
    candidates_per_cycle: int = _key(150, _positive(), "candidates generated per cycle")
    seed: int = _key(0, _non_negative(), "base random seed (each candidate derives its own)")
    cache_dir: str | None = _key(None, None, f"built demo model and decoded data sets (default {DEFAULT_CACHE_DIR})")


@dataclass(frozen=True)
class ModelSection:
    id: str = _key("deepseek-ai/deepseek-coder-7b-instruct-v1.5", _non_empty(), "hub id, local path, or 'demo'")
    quantization: Literal["none", "4bit", "8bit"] = _key("4bit", None, "4bit = NF4 QLoRA as in the paper")
    device: str = _key("auto", _non_empty(), "'auto', 'cpu', 'cuda' or 'cuda:N'")


@dataclass(frozen=True)
class GenerationSection:
    temperature: float = _key(0.7, _positive(), "sampling temperature")
    top_k: int = _key(100, _non_negative(), "top-k sampling (0 = off)")
    top_p: float = _key(0.95, _unit_interval(), "nucleus sampling")
    max_new_tokens: int = _key(2048, _positive(), "tokens per completion")
    max_retries: int = _key(5, _non_negative(), "retries after a failed check, each hotter")
    temperature_step: float = _key(0.1, _non_negative(), "temperature added per retry")
    batch_size: int = _key(8, _positive(), "completions sampled together (and committed together)")


@dataclass(frozen=True)
class NoveltySection:
    threshold: float = _key(0.85, _unit_interval(), "MinHash-LSH Jaccard threshold for a near-duplicate")
    num_perm: int = _key(128, _positive(), "MinHash permutations")
    shingle: int = _key(7, _positive(), "tokens per shingle")
    check_at_generation: bool = _key(True, None, "regenerate near-duplicates while sampling (paper's code)")
    let_through_after: int = _key(5, _non_negative(), "after this many rejections a candidate is let through")
    structural_dedup: bool = _key(True, None, "selection drops candidates whose AST signature was seen")
    lemur_corpus: str | None = _key(None, None, "a LEMUR checkout (ab/nn/nn/*.py) added to the novelty corpus")


@dataclass(frozen=True)
class EvaluationSection:
    protocol: Literal["paper", "fast"] = _key("paper", None, "training protocol (evaluate.py)")
    batch_size: int | None = _key(
        None, _positive_or_none(), "training batch size (default: the protocol's, paper 16, fast 128)"
    )
    data: Literal["auto", "cifar10", "synthetic"] = _key("auto", None, "auto = CIFAR-10 if found, else synthetic")
    data_path: str | None = _key(None, None, "CIFAR-10 archive or folder (default: search the usual places)")
    synthetic_train: int = _key(2000, _positive(), "images in the synthetic training set")
    synthetic_test: int = _key(500, _positive(), "images in the synthetic test set")
    executor: Literal["local", "ray"] = _key("local", None, "where candidates are trained")
    workers: int = _key(1, _positive(), "candidates trained at once")
    devices: list[str] = _key([], None, "devices for the workers (empty = auto)")
    ray_address: str | None = _key(None, None, "Ray cluster to join (default: RAY_ADDRESS, else a local Ray)")
    ray_num_cpus: float = _key(1.0, _positive(), "CPUs each candidate's Ray task reserves")
    ray_num_gpus: float | None = _key(None, None, "GPU share per Ray task, fractions allowed (default: 1 if any GPU)")
    ray_max_retries: int = _key(2, _non_negative(), "re-runs of a candidate whose Ray worker or node died")
    time_limit_s: float = _key(1800.0, _positive(), "wall-clock limit per candidate (paper: 30 min)")
    memory_limit_mb: int = _key(0, _non_negative(), "address-space limit per candidate process (0 = none)")


@dataclass(frozen=True)
class SelectionSection:
    threshold: float = _key(40.0, _percent(), "accuracy (%) that selects a novel candidate")
    fallback_threshold: float = _key(35.0, _percent(), "lower bar used to fill up to min_selected")
    min_selected: int = _key(15, _non_negative(), "fill with fallback candidates up to this many")


@dataclass(frozen=True)
class LoraSection:
    r: int = _key(32, _positive(), "LoRA rank")
    alpha: int = _key(32, _positive(), "LoRA alpha")
    dropout: float = _key(0.05, _probability(), "LoRA dropout")
    target_modules: list[str] = _key(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        None,
        "modules that get adapters (empty = the model family's equivalents of the paper's)",
    )


@dataclass(frozen=True)
class SftSection:
    learning_rate: float = _key(1e-5, _positive(), "peak learning rate")
    weight_decay: float = _key(0.01, _non_negative(), "AdamW weight decay")
    warmup_steps: int = _key(20, _non_negative(), "linear warm-up steps")
    epochs: int = _key(5, _positive(), "epochs over the cumulative set per cycle")
    later_epochs: int = _key(2, _positive(), "epochs once the run is past `later_from_cycle`")
    later_from_cycle: int = _key(6, _positive(), "first cycle that trains `later_epochs`")
    batch_size: int = _key(1, _positive(), "per-device batch")
    grad_accum: int = _key(8, _positive(), "gradient accumulation steps")
    max_length: int = _key(4096, _positive(), "tokens per training example")
    optimizer: str = _key("paged_adamw_8bit", _non_empty(), "optimizer name")
    gradient_checkpointing: bool = _key(True, None, "trade compute for memory")
    bf16: bool = _key(True, None, "bf16 autocast (ignored on CPU)")
    include_seed_pairs: bool = _key(True, None, "start the training set from the seed corpus")
    max_steps: int = _key(0, _non_negative(), "cap on optimizer steps per cycle (0 = none; for time-boxed runs)")

    def epochs_for(self, cycle: int) -> int:
        """The paper trains 5 epochs per cycle early on and 2 later."""
        return self.epochs if cycle < self.later_from_cycle else self.later_epochs


@dataclass(frozen=True)
class RunConfig:
    preset: str | None = None
    run: RunSection = field(default_factory=RunSection)
    model: ModelSection = field(default_factory=ModelSection)
    generation: GenerationSection = field(default_factory=GenerationSection)
    novelty: NoveltySection = field(default_factory=NoveltySection)
    evaluation: EvaluationSection = field(default_factory=EvaluationSection)
    selection: SelectionSection = field(default_factory=SelectionSection)
    lora: LoraSection = field(default_factory=LoraSection)
    sft: SftSection = field(default_factory=SftSection)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (stored with the run, and round-trips through `config_from_dict`)."""
        return dataclasses.asdict(self)


_SECTION_TYPES: dict[str, type] = {
    "run": RunSection,
    "model": ModelSection,
    "generation": GenerationSection,
    "novelty": NoveltySection,
    "evaluation": EvaluationSection,
    "selection": SelectionSection,
    "lora": LoraSection,
    "sft": SftSection,
}

# ---- loading -----------------------------------------------------------------------------------------------------


def known_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_config(path: Path | None = None, preset: str | None = None) -> RunConfig:
    """Build a RunConfig from a file, a preset, or both (the file's keys override the preset's).

    `preset` (from the command line) wins over a `preset = ...` line in the file. With neither, the defaults are the
    paper's settings. Raises ConfigError naming the file and key for anything wrong.
    """
    user: dict[str, Any] = {}
    source = "config"
    if path is not None:
        source = path.name
        user = _read_toml(path)
    file_preset = user.pop("preset", None)
    if file_preset is not None and not isinstance(file_preset, str):
        raise ConfigError(f"{source}: preset must be a string, got {file_preset!r}")
    chosen = preset or file_preset
    merged: dict[str, Any] = {}
    if chosen is not None:
        merged = _read_preset(chosen, source)
        merged.pop("preset", None)
    for name, table in user.items():
        if isinstance(table, dict) and isinstance(merged.get(name), dict):
            merged[name] = {**merged[name], **table}
        else:
            merged[name] = table
    return config_from_dict(merged, source=source, preset=chosen)


def config_from_dict(data: Mapping[str, Any], *, source: str = "config", preset: str | None = None) -> RunConfig:
    """Validate a parsed TOML (or stored JSON) mapping into a RunConfig; ConfigError on any problem."""
    data = dict(data)
    if "preset" in data:
        stored = data.pop("preset")
        preset = preset if preset is not None else stored
    unknown = sorted(set(data) - set(_SECTION_TYPES))
    if unknown:
        raise ConfigError(f"{source}: unknown table or key {unknown[0]!r} (known: {', '.join(_SECTION_TYPES)})")
    sections: dict[str, Any] = {}
    for name, cls in _SECTION_TYPES.items():
        table = data.get(name, {})
        if not isinstance(table, Mapping):
            raise ConfigError(f"{source}: [{name}] must be a table, got {table!r}")
        sections[name] = _build_section(cls, name, table, source)
    config = RunConfig(preset=preset, **sections)
    _check_cross_keys(config, source)
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML ({exc})") from None


def _read_preset(name: str, source: str) -> dict[str, Any]:
    presets = known_presets()
    if name not in presets:
        raise ConfigError(f"{source}: unknown preset {name!r} (known presets: {', '.join(presets)})")
    return _read_toml(PRESET_DIR / f"{name}.toml")


def _build_section(cls: type, section: str, table: Mapping[str, Any], source: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ConfigError(f"{source}: [{section}] unknown key {unknown[0]!r} (known: {', '.join(fields)})")
    values: dict[str, Any] = {}
    for name, value in table.items():
        where = f"{source}: [{section}] {name}"
        check: Check | None = fields[name].metadata.get("check")
        coerced = _coerce(value, hints[name], where, f" {check[1]}" if check else "")
        if check is not None and coerced is not None and not check[0](coerced):
            raise ConfigError(f"{where} must be {_type_word(hints[name])} {check[1]}, got {value!r}")
        values[name] = coerced
    return cls(**values)


def _coerce(value: Any, hint: Any, where: str, bound: str = "") -> Any:
    """Check `value` against a type hint; ints are accepted where floats are wanted (TOML writes 1 for 1.0)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value == "" and type(None) in args):
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where, bound)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where} must be one of {', '.join(repr(a) for a in args)}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list of {_type_word(args[0])}s, got {value!r}")
        return [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer{bound}, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{where} must be a number{bound}, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string{bound}, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported setting type {hint!r}")  # a bug in this module, reported plainly


def _type_word(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _type_word(next(a for a in typing.get_args(hint) if a is not type(None)))
    if origin is list:
        return "a list"
    return {int: "an integer", float: "a number", str: "a string", bool: "a boolean"}.get(hint, "a value")


def _check_cross_keys(config: RunConfig, source: str) -> None:
    if config.evaluation.ray_num_gpus is not None and config.evaluation.ray_num_gpus < 0:
        raise ConfigError(f"{source}: [evaluation] ray_num_gpus must be >= 0, got {config.evaluation.ray_num_gpus}")
    if config.selection.fallback_threshold > config.selection.threshold:
        raise ConfigError(
            f"{source}: [selection] fallback_threshold ({config.selection.fallback_threshold}) must not exceed "
            f"threshold ({config.selection.threshold})"
        )
