"""The embedded demo's code LLM: a small Llama-shaped model and a byte-level BPE tokenizer, built offline on the CPU.

Nothing is downloaded. The tokenizer is trained with `tokenizers` on the training texts and the prompt; the model is
a `LlamaForCausalLM` from a config, pre-trained (all weights, ~5 minutes on 2 cores) as the same prompt/completion
pairs the loop fine-tunes on. Its texts: the seed corpus, augmented variants of each seed (rescaled widths, swapped
activations and pooling; checked to still build and forward), and a few hundred nets of the procedural family in
`demo_corpus.py`, whose regular style a model this small can learn in minutes. Trained on the seeds alone it wrote
syntax errors (0 of 16 valid); with the family, 16 of 16 sampled nets built, none a copy of its training texts.

`ensure_demo_model(cache_dir)` returns a directory `generate.load_model` accepts. The directory name is a hash of
(training texts, config, DEMO_MODEL_VERSION): the first call builds it (atomically, via a temp dir and a rename), later
calls return at once. Failures: an empty corpus raises ValueError; an unwritable cache dir raises OSError.

One module though over 400 lines: building, caching and checking the demo model are one recipe read top to bottom.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import random
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from archloop.cache import cache_root
from archloop.evaluation.executor import idle_cores
from archloop.llm.demo_corpus import family_corpus
from archloop.llm.finetune import IGNORE_INDEX, EncodedExample, collate, encode_pair
from archloop.llm.prompts import SIMPLE_CHAT_TEMPLATE, render_prompt, training_pair

# Bump when the recipe changes in a way that changes the built model: it is part of the cache key.
DEMO_MODEL_ID = "demo"  # [model] id that names this model instead of a hub id or path
DEMO_MODEL_VERSION = "4"  # 4: fenced prompt and targets (the code ends at a closing fence)
INFO_FILE = "demo_model.json"
_REQUIRED_FILES = (INFO_FILE, "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
BOS, EOS, PAD = "<s>", "</s>", "<pad>"
MAX_TOKEN_CHARS = 16  # long enough to hold 'layers.append(', short enough that numbers and names stay separate tokens

BuildProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DemoModelConfig:
    """Model shape and pre-training recipe.

    The default (~1.2M parameters, 4 layers, a 4096-token vocabulary whose tokens may span spaces and lines, so a net
    is ~230 tokens) is sized for the time budget: 300 steps of 8 nets took 270 s on 2 shared CPU cores and reach a
    loss of ~0.34; sampled at the paper's 0.7/100, 16 of 16 nets passed the contract and built (bench/demo_model_bench.py).
    """

    vocab_size: int = 4096
    hidden_size: int = 128
    intermediate_size: int = 384
    num_layers: int = 4
    num_heads: int = 4
    max_positions: int = 2048
    max_token_chars: int = MAX_TOKEN_CHARS
    variants_per_seed: int = 2
    family_nets: int = 320  # procedurally generated nets (demo_corpus.py) pre-trained on besides the seeds
    steps: int = 300
    batch_size: int = 8
    learning_rate: float = 3e-3
    warmup_steps: int = 20
    max_seconds: float = 900.0  # a safety cap only: a build cut short writes worse code, so steps decide
    seed: int = 0


def printing_progress(interval_s: float = 15.0) -> BuildProgressCallback:
    """A build progress callback that prints a line when a stage starts or ends, and every `interval_s` between."""
    started = time.monotonic()
    last = {"stage": "", "at": 0.0}

    def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage != last["stage"] or now - last["at"] >= interval_s or done == total:
            last.update(stage=stage, at=now)
            print(f"  {now - started:6.0f}s  {stage} {done}/{total}", flush=True)

    return progress


def train_tokenizer(
    texts: Iterable[str], vocab_size: int, max_token_chars: int = MAX_TOKEN_CHARS
) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (lossless on any UTF-8 text) with <s>, </s>, <pad> and a simple chat template."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[BOS, EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
        max_token_length=max_token_chars,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=BOS, eos_token=EOS, pad_token=PAD, clean_up_tokenization_spaces=False
    )
    wrapped.chat_template = SIMPLE_CHAT_TEMPLATE
    wrapped.padding_side = "left"
    return wrapped


def build_model(config: DemoModelConfig, tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    """A randomly initialised Llama of the configured shape, with the tokenizer's special ids."""
    torch.manual_seed(config.seed)
    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_heads,
        max_position_embeddings=config.max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(model_config)


def save_untrained_model(
    out_dir: Path, texts: Sequence[str], config: DemoModelConfig
) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """Train a tokenizer on `texts` (plus the prompt) and save it with a random model to `out_dir`."""
    tokenizer = train_tokenizer([render_prompt(None), *texts], config.vocab_size, config.max_token_chars)
    model = build_model(config, tokenizer)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return model, tokenizer


# ---- augmentation ------------------------------------------------------------------------------------------------

_INT_LITERAL = re.compile(r"(?<![\w.])(\d+)(?![\w.])")
_ACTIVATION_MODULE = re.compile(r"nn\.ReLU\((?:inplace=True)?\)")
_ACTIVATION_FUNCTION = re.compile(r"F\.relu\(")
_ACTIVATION_MODULES = ("nn.ReLU(inplace=True)", "nn.SiLU(inplace=True)", "nn.GELU()", "nn.ReLU6(inplace=True)")
_ACTIVATION_FUNCTIONS = ("F.relu(", "F.silu(", "F.relu6(", "F.gelu(")
_POOL_SWAPS = (("nn.MaxPool2d(", "nn.AvgPool2d("), ("F.max_pool2d(", "F.avg_pool2d("))


def rescale_widths(code: str, factor: float) -> str:
    """Scale every integer literal >= 8 by `factor`, the same literal always to the same value, so a width shared
    by two layers stays shared (multiples of 8 stay multiples of 8). Literals in comments are scaled too (harmless)."""
    mapping: dict[str, str] = {}

    def scaled(match: re.Match[str]) -> str:
        text = match.group(1)
        value = int(text)
        if value < 8:
            return text
        if text not in mapping:
            new = max(8, round(value * factor / 8) * 8) if value % 8 == 0 else max(2, round(value * factor))
            mapping[text] = str(new)
        return mapping[text]

    return _INT_LITERAL.sub(scaled, code)


def augment(code: str, rng: random.Random) -> str:
    """One random equivalent-shape variant of `code`: rescaled widths, another activation, other pooling."""
    variant = code
    if rng.random() < 0.8:
        variant = rescale_widths(variant, rng.choice((0.5, 0.75, 1.25, 1.5)))
    if rng.random() < 0.6:
        variant = _ACTIVATION_MODULE.sub(rng.choice(_ACTIVATION_MODULES), variant)
        variant = _ACTIVATION_FUNCTION.sub(rng.choice(_ACTIVATION_FUNCTIONS), variant)
    if rng.random() < 0.3:
        for old, new in _POOL_SWAPS:
            variant = variant.replace(old, new)
    return variant


def builds_and_fits(code: str, max_params: int = 300_000) -> bool:
    """True if `code` defines a Net that builds, maps (1,3,32,32) to (1,10) and has <= max_params parameters.

    Runs the code in this process: only for code derived here from the bundled seeds, never for LLM output.
    """
    namespace: dict[str, object] = {}
    try:
        exec(compile(code, "<variant>", "exec"), namespace)
        net_class = namespace["Net"]
        prm = {"lr": 0.01, "momentum": 0.9, "dropout": 0.2, "weight_decay": 0.0}
        net = net_class((1, 3, 32, 32), (10,), prm, torch.device("cpu"))  # type: ignore[operator]
        with torch.no_grad():
            out = net.eval()(torch.zeros(1, 3, 32, 32))
        params = sum(p.numel() for p in net.parameters())
    except Exception:  # any failure means the variant is not a valid net; it is simply not used
        return False
    return tuple(out.shape) == (1, 10) and params <= max_params


def make_variants(code: str, count: int, rng: random.Random, attempts_per_variant: int = 3) -> list[str]:
    """Up to `count` distinct valid variants of `code` (fewer if augmentation keeps breaking it)."""
    variants: list[str] = []
    for _ in range(count * attempts_per_variant):
        if len(variants) >= count:
            break
        candidate = augment(code, rng)
        if candidate != code and candidate not in variants and builds_and_fits(candidate):
            variants.append(candidate)
    return variants


def strip_seed_header(code: str) -> str:
    """Seed files start with `# family: X`, which is bookkeeping, not part of the net a model should write."""
    return code.split("\n", 1)[1] if code.startswith("# family:") else code


# ---- pre-training and the cache -------------------------------------------------------------------------------------


def cache_key(corpus: Sequence[str], config: DemoModelConfig) -> str:
    digest = hashlib.sha256()
    digest.update(DEMO_MODEL_VERSION.encode())
    digest.update(json.dumps(asdict(config), sort_keys=True).encode())
    # The family is generated code: hash its text, so a change to the grammar rebuilds the model.
    for code in [*corpus, *family_corpus(config.family_nets, config.seed)]:
        digest.update(hashlib.sha256(code.encode()).digest())
    return digest.hexdigest()


def models_dir(cache_dir: str | Path | None = None) -> Path:
    """Where built demo models live under a run's cache directory (`run.cache_dir`, default ~/.cache/archloop)."""
    return cache_root(cache_dir) / "models"


def default_corpus() -> list[str]:
    from archloop.corpus.seeds import load_seed_corpus

    return [strip_seed_header(seed.code) for seed in load_seed_corpus()]


def ensure_demo_model(
    cache_dir: str | Path,
    *,
    on_progress: BuildProgressCallback | None = None,
    config: DemoModelConfig | None = None,
    corpus: Sequence[str] | None = None,
) -> Path:
    """The demo model's directory under `cache_dir`, built first if this (corpus, config, version) is new.

    `on_progress(stage, done, total)` reports 'augment', 'pretrain' (per step) and 'save'. See the module docstring.
    """
    config = config or DemoModelConfig()
    codes = list(corpus) if corpus is not None else default_corpus()
    if not codes:
        raise ValueError("the demo model needs a non-empty seed corpus")
    root = Path(cache_dir)
    final = root / f"demo-{cache_key(codes, config)[:16]}"
    if is_complete(final):
        return final
    root.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
    try:
        info = build_demo_model(building, codes, config, on_progress)
        (building / INFO_FILE).write_text(json.dumps(info, indent=2))
        if final.exists() and not is_complete(final):
            shutil.rmtree(final, ignore_errors=True)  # a damaged earlier build: replace it
        try:
            building.rename(final)
        except OSError:
            if not is_complete(final):  # not a concurrent builder that finished first
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return final


def is_complete(model_dir: Path) -> bool:
    """A finished build: written last, INFO_FILE vouches for the rest, which is checked too (a cache directory
    can be damaged by hand or by cleaners, and a half model must be rebuilt, not loaded)."""
    return all((model_dir / name).is_file() for name in _REQUIRED_FILES)


def build_demo_model(
    out_dir: Path, codes: Sequence[str], config: DemoModelConfig, on_progress: BuildProgressCallback | None = None
) -> dict[str, object]:
    """Augment, train the tokenizer, pre-train and save into `out_dir`; returns what was done (for INFO_FILE)."""
    with _threads_for_idle_cores():
        return _build(out_dir, codes, config, on_progress)


@contextmanager
def _threads_for_idle_cores() -> Iterator[None]:
    """Use only the cores that are idle right now, restoring torch's setting after.

    On a shared machine, torch's default of one thread per core makes its threads wait on each other at every op
    while other processes hold the cores: measured here at load 11 on 2 cores, 1 thread trained 4x faster than 2.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(min(before, idle_cores()))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _build(
    out_dir: Path, codes: Sequence[str], config: DemoModelConfig, on_progress: BuildProgressCallback | None
) -> dict[str, object]:
    started = time.perf_counter()
    rng = random.Random(config.seed)
    texts: list[str] = []
    for done, code in enumerate(codes):
        texts.append(code)
        texts.extend(make_variants(code, config.variants_per_seed, rng))
        if on_progress is not None:
            on_progress("augment", done + 1, len(codes))
    texts.extend(family_corpus(config.family_nets, config.seed))
    model, tokenizer = save_untrained_model(out_dir, texts, config)
    examples = [
        example
        for example in (encode_pair(tokenizer, *training_pair(text, tokenizer), config.max_positions) for text in texts)
        if example is not None
    ]
    steps, loss = pretrain(model, examples, config, tokenizer.pad_token_id, on_progress)
    if on_progress is not None:
        on_progress("save", 0, 1)
    model.save_pretrained(str(out_dir))
    if on_progress is not None:
        on_progress("save", 1, 1)
    return {
        "version": DEMO_MODEL_VERSION,
        "config": asdict(config),
        "seeds": len(codes),
        "examples": len(examples),
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": steps,
        "final_loss": loss,
        "seconds": round(time.perf_counter() - started, 1),
        "threads": torch.get_num_threads(),
    }


def shared_prompt(examples: Sequence[EncodedExample]) -> list[int] | None:
    """The prompt token ids all examples start with (their masked part), or None if they differ."""
    prompts = {tuple(e.input_ids[: e.labels.count(IGNORE_INDEX)]) for e in examples}
    if len(prompts) != 1:
        return None
    prompt = list(prompts.pop())
    return prompt if len(prompt) >= 2 and all(e.labels[len(prompt)] != IGNORE_INDEX for e in examples) else None


def completion_loss(
    model: LlamaForCausalLM, prompt: list[int], batch: Sequence[EncodedExample], pad_id: int
) -> torch.Tensor:
    """Loss on the completions of `batch`, all behind the same `prompt`, with the prompt run once and without grad.

    The prompt is identical for every example and masked out of the loss, so its keys/values are computed once per
    step (batch 1, no graph) and shared; only the completions are trained through. Gradients that would flow
    through the prompt's keys/values are dropped: fine for pre-training, and it saves ~35% of each step here.
    """
    # transformers 5 names the KV cache `cache`; 4.x called it `past_key_values`.
    cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    with torch.no_grad():
        out = model(input_ids=torch.tensor([prompt[:-1]]), use_cache=True)
        cache = getattr(out, "cache", None) or out.past_key_values
    cache.batch_repeat_interleave(len(batch))
    # The last prompt token goes through with grad: its output predicts the first completion token.
    tails = [
        EncodedExample([prompt[-1], *e.input_ids[len(prompt) :]], [IGNORE_INDEX, *e.labels[len(prompt) :]])
        for e in batch
    ]
    inputs = collate(tails, pad_id)
    mask = torch.cat([torch.ones(len(batch), len(prompt) - 1, dtype=torch.long), inputs["attention_mask"]], dim=1)
    return model(input_ids=inputs["input_ids"], attention_mask=mask, labels=inputs["labels"], **{cache_arg: cache}).loss


def pretrain(
    model: LlamaForCausalLM,
    examples: Sequence[EncodedExample],
    config: DemoModelConfig,
    pad_id: int,
    on_progress: BuildProgressCallback | None = None,
) -> tuple[int, float]:
    """Full-weight AdamW on the completion tokens, warmup then cosine decay; stops at `steps` or `max_seconds`.

    Returns (steps taken, mean loss of the last 10 steps)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    warmup = max(1, min(config.warmup_steps, config.steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, config.steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    rng = random.Random(config.seed)
    prompt = shared_prompt(examples)
    model.train()
    started = time.perf_counter()
    losses: list[float] = []
    order: list[EncodedExample] = []
    step = 0
    for step in range(1, config.steps + 1):
        if len(order) < config.batch_size:
            order = list(examples)
            rng.shuffle(order)
        batch, order = order[: config.batch_size], order[config.batch_size :]
        if prompt is not None:
            loss = completion_loss(model, prompt, batch, pad_id)
        else:
            loss = model(**collate(batch, pad_id)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if on_progress is not None:
            on_progress("pretrain", step, config.steps)
        if time.perf_counter() - started > config.max_seconds:
            break
    model.eval()
    tail = losses[-10:]
    return step, sum(tail) / max(1, len(tail))


def tiny_config(**overrides: int | float) -> DemoModelConfig:
    """A seconds-scale config for tests and smoke runs (same recipe, toy sizes)."""
    base = DemoModelConfig(
        vocab_size=400,
        hidden_size=64,
        intermediate_size=128,
        num_layers=2,
        num_heads=2,
        max_positions=2048,
        variants_per_seed=1,
        family_nets=4,
        steps=3,
        batch_size=2,
        warmup_steps=1,
    )
    return replace(base, **overrides)
