"""Generation: load the code LLM (+ LoRA adapter), sample candidates in batches and stream every one of them live.

`load_model` returns a `LoadedModel`; a model that cannot be loaded raises `ModelLoadError` naming the model, the
reason and what to do. `Generator.generate` samples `n` candidates with the paper's decoding settings, batched with
left padding, streams each sequence's text as it is produced (coalesced to at most ~20 callbacks/s per candidate),
applies the paper's retry rule (a candidate failing `check` is regenerated with temperature + 0.1, up to 5 retries)
and can be cancelled between decoding steps. Callback exceptions propagate to the caller: a broken callback is a
programming error, not a generation failure.

With the paper's fenced prompt each row stops at its own closing fence (stopping.StopAtMarker), so no tokens go to
prose after the code. A candidate's `raw` text is the forced prefix + the decoded reply (what was streamed); its
`code` is what `reply.extract_code` takes from it, and that is what `check` and everything after generation see.

It reads the `[model]` (ModelSettings) and `[generation]` (GenerationSettings) sections (llm/settings.py). Longer than
~400 lines because loading, batched sampling and the incremental detokenizer it streams through are one unit.

One module though over 400 lines: loading, batching, retrying and streaming share the sampling state of one batch.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.generation.streamers import BaseStreamer

from archloop.callbacks import StopPredicate
from archloop.llm.prompts import PromptSpec, render_prompt
from archloop.llm.reply import Extraction, extract_code
from archloop.llm.settings import GenerationSettings, Quantization
from archloop.llm.stopping import StopAtMarker
from archloop.llm.threads import cpu_threads

# (candidate index, text appended): one candidate's text as it grows.
TextCallback = Callable[[int, str], None]
AttemptCallback = Callable[[int, int, float], None]
FinishReason = Literal["eos", "stop", "length"]  # stop: the closing fence
LoadErrorKind = Literal["not_found", "not_causal_lm", "adapter", "quantization", "device", "other"]

# Prompt tokens kept in front of each row when decoding, so tokenizers that strip a leading space at the start of a
# decode (SentencePiece) do not eat the indentation of the first generated line.
_DECODE_CONTEXT_TOKENS = 4


@dataclass
class GeneratedCandidate:
    """One candidate: its final attempt's code and raw reply, and what it cost.

    `raw` is the forced prefix + the generated text; `code` the module extracted from it (`extraction` says what was
    removed, or why none was found). `tokens` and `seconds` add up every attempt; `seconds` is the wall time of the
    batches the candidate was in.
    """

    index: int
    code: str
    attempts: int
    tokens: int
    seconds: float
    final_temperature: float
    finish_reason: FinishReason
    passed_check: bool
    raw: str = ""
    extraction: Extraction | None = None


@dataclass
class LoadedModel:
    """A causal LM ready to sample from, with its tokenizer set up for left-padded batches."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    model_id: str
    adapter_dir: Path | None
    device: torch.device
    quantization: Quantization


class ModelLoadError(RuntimeError):
    """A model or adapter that cannot be loaded; `kind` classifies it and the message says what to do."""

    def __init__(self, model_id: str, kind: LoadErrorKind, reason: str, remedy: str) -> None:
        super().__init__(f"cannot load model {model_id!r}: {reason}. {remedy}")
        self.model_id = model_id
        self.kind = kind
        self.reason = reason
        self.remedy = remedy


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' picks CUDA when present, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def bitsandbytes_usable() -> bool:
    return importlib.util.find_spec("bitsandbytes") is not None and torch.cuda.is_available()


def load_model(
    model_id_or_path: str | Path,
    adapter_dir: str | Path | None = None,
    *,
    device: str | torch.device = "auto",
    quantization: Quantization = "none",
) -> LoadedModel:
    """Load a causal LM and its tokenizer (and a PEFT adapter on top, if given) for sampling.

    `quantization` '4bit' loads NF4 weights (QLoRA's format), '8bit' bitsandbytes LLM.int8 weights; both need
    bitsandbytes and CUDA, else ModelLoadError(kind='quantization'). Unquantized weights are bf16 on CUDA, fp32 on
    the CPU. Raises ModelLoadError for: no local copy and no hub access (kind 'not_found'), a model that is not a
    causal LM ('not_causal_lm'), an adapter that does not load ('adapter'), an unavailable device ('device').
    """
    model_id = str(model_id_or_path)
    if _looks_like_path(model_id) and not Path(model_id).exists():
        raise _not_found(model_id, FileNotFoundError(model_id))
    target = resolve_device(device)
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(model_id, "device", "CUDA was requested but is not available", "Use device='cpu'.")
    model, tokenizer = load_base_model(model_id, device=target, quantization=quantization)
    if adapter_dir is not None:
        model = _attach_adapter(model, model_id, Path(adapter_dir))
    model.eval()
    return LoadedModel(model, tokenizer, model_id, Path(adapter_dir) if adapter_dir else None, target, quantization)


def load_base_model(
    model_id: str, *, device: torch.device, quantization: Quantization = "none"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """(model, tokenizer) of the base model on `device`; raises ModelLoadError as `load_model` does."""
    if quantization not in ("none", "4bit", "8bit"):
        raise ModelLoadError(
            model_id, "quantization", f"unknown quantization {quantization!r}", "Use 'none', '4bit' or '8bit'."
        )
    quantize = quantization != "none"
    if quantize and not bitsandbytes_usable():
        raise ModelLoadError(
            model_id,
            "quantization",
            f"{quantization} loading needs bitsandbytes and a CUDA GPU",
            "On a CUDA host run `pip install 'archloop[gpu]'`; elsewhere set [model] quantization = \"none\"",
        )
    tokenizer = _load_tokenizer(model_id)
    kwargs: dict[str, Any] = {
        "dtype": torch.bfloat16 if device.type == "cuda" else torch.float32,
        # A local directory must never trigger a hub lookup (slow retries on a host without network).
        "local_files_only": Path(model_id).is_dir(),
    }
    if quantize:
        kwargs["quantization_config"] = _bitsandbytes_config(quantization)
        kwargs["device_map"] = {"": device.index or 0}
    try:
        model = AutoModelForCausalLM.from_pretrained(model_id, **kwargs)
    except ValueError as error:
        if "Unrecognized configuration class" in str(error) or "AutoModelForCausalLM" in str(error):
            raise ModelLoadError(
                model_id, "not_causal_lm", "it is not a causal language model", "Choose a decoder-only code LLM."
            ) from error
        raise ModelLoadError(model_id, "other", str(error), "Check the model directory.") from error
    except OSError as error:
        raise _not_found(model_id, error) from error
    if not quantize:
        model.to(device)
    return model, tokenizer


def _bitsandbytes_config(quantization: Quantization) -> Any:
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def _load_tokenizer(model_id: str) -> PreTrainedTokenizerBase:
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_id, local_files_only=Path(model_id).is_dir())
    except OSError as error:
        raise _not_found(model_id, error) from error
    except (ValueError, KeyError) as error:
        raise ModelLoadError(
            model_id, "other", f"its tokenizer does not load ({error})", "Check the model directory."
        ) from error
    # Left padding: in a decoder-only batch every row's next token must sit in the same (last) column.
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _looks_like_path(model_id: str) -> bool:
    """Hub ids are 'owner/name'; anything else with a separator or a leading dot/tilde is meant as a local path."""
    return model_id.startswith((".", "~", "/")) or model_id.count("/") > 1 or "\\" in model_id


def _not_found(model_id: str, error: Exception) -> ModelLoadError:
    if _looks_like_path(model_id) and not Path(model_id).exists():
        return ModelLoadError(
            model_id, "not_found", "no such directory", "Check the path, or give a hub id such as 'owner/name'."
        )
    if Path(model_id).exists():
        return ModelLoadError(
            model_id, "not_found", f"the directory has no loadable model ({error})", "Point at a saved model directory."
        )
    return ModelLoadError(
        model_id,
        "not_found",
        "it is not a local directory and the hub cannot be reached or has no such model",
        "Download it where there is network access (`hf download MODEL --local-dir DIR`), copy DIR to this host "
        "and pass the directory, or set HF_HOME to a cache that holds it.",
    )


def _attach_adapter(model: PreTrainedModel, model_id: str, adapter_dir: Path) -> Any:
    from peft import PeftModel

    if not (adapter_dir / "adapter_config.json").is_file():
        raise ModelLoadError(
            model_id, "adapter", f"{adapter_dir} has no adapter_config.json", "Pass a directory saved by finetune()."
        )
    try:
        return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=False)
    except (ValueError, OSError, RuntimeError, KeyError, TypeError) as error:
        raise ModelLoadError(
            model_id,
            "adapter",
            f"adapter {adapter_dir} does not fit this model ({error})",
            "Use the adapter's base model.",
        ) from error


class _CancelBetweenSteps(StoppingCriteria):
    """Ends the whole batch as soon as `should_stop()` is true; checked once per decoding step."""

    def __init__(self, should_stop: StopPredicate) -> None:
        self.should_stop = should_stop
        self.cancelled = False

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        self.cancelled = self.cancelled or self.should_stop()
        return torch.full((input_ids.shape[0],), self.cancelled, dtype=torch.bool, device=input_ids.device)


@dataclass
class _RowStream:
    """Incremental detokenizer state of one row (see BatchStreamer)."""

    candidate: int
    context: list[int]
    tokens: list[int] = field(default_factory=list)
    context_start: int = 0  # tokens decoded only as context, so the window starts mid-text
    window_start: int = 0  # first token whose text is not yet settled
    window_base: str = ""  # decode(tokens[context_start:window_start])
    window_sent: int = 0  # characters of the window's text already queued
    emitted: str = ""
    pending: str = ""
    last_flush: float = 0.0
    finished: bool = False


class BatchStreamer(BaseStreamer):
    """Receives every decoding step's tokens for the whole batch and calls `on_delta(candidate, text)` per row.

    transformers calls `put` once with the prompt batch, then once per step with one token per row; rows that have
    hit EOS get padding afterwards, which is ignored. Each step decodes only a short window (the last settled
    tokens as context, then the unsettled ones), so a step costs O(window), not O(length). Text ending in U+FFFD is
    held back: a multi-byte character split across tokens is only sent once complete. The window only moves past
    text without U+FFFD, so invalid bytes mid-stream decode exactly as in one full decode, and the deltas of a row
    always add up to its final code. Deltas are coalesced to one call per `interval_s` per row, flushed at the end.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        candidates: Sequence[int],
        contexts: Sequence[list[int]],
        eos_ids: set[int],
        on_delta: TextCallback,
        interval_s: float,
        first_text: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self.on_delta = on_delta
        self.interval_s = interval_s
        self.clock = clock
        self.first_text = first_text
        self.stopped_rows: dict[int, int] = {}  # shared with StopAtMarker: rows ended at the stop marker
        self.rows = [_RowStream(c, list(ctx), pending=first_text) for c, ctx in zip(candidates, contexts, strict=True)]
        for row in self.rows:
            row.tokens = list(row.context)
            row.window_start = len(row.tokens)
            row.window_base = self._decode(row.tokens)
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # the first call carries the prompt batch, which is not output
            self.prompt_seen = True
            return
        now = self.clock()
        for index, (row, token) in enumerate(zip(self.rows, value.reshape(-1).tolist(), strict=True)):
            if row.finished:
                continue
            # A row stopped at the marker gets padding after the token that completed it (transformers may run the
            # stopping criteria before or after handing the step's tokens to the streamer).
            stopped_at = self.stopped_rows.get(index)
            if token in self.eos_ids or (stopped_at is not None and len(row.tokens) - len(row.context) >= stopped_at):
                self._finish(row)
                continue
            row.tokens.append(token)
            row.pending += self._step_text(row)
            if row.pending and now - row.last_flush >= self.interval_s:
                self._flush(row, now)

    def end(self) -> None:
        for row in self.rows:
            if not row.finished:
                self._finish(row)

    def _decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def _step_text(self, row: _RowStream) -> str:
        text = self._decode(row.tokens[row.context_start :])
        if text.endswith("\ufffd") or not text.startswith(row.window_base):
            return ""
        window_text = text[len(row.window_base) :]
        delta = window_text[row.window_sent :]
        row.window_sent = len(window_text)
        if "\ufffd" not in window_text:  # settled: what follows cannot change it, so move the window on
            row.context_start, row.window_start = row.window_start, len(row.tokens)
            row.window_base = self._decode(row.tokens[row.context_start : row.window_start])
            row.window_sent = 0
        return delta

    def _finish(self, row: _RowStream) -> None:
        # The authoritative text is one full decode; send whatever the incremental window still held back.
        full = self.first_text + decode_generated(self.tokenizer, row.context, row.tokens[len(row.context) :])
        sent = row.emitted + row.pending
        if full.startswith(sent):
            row.pending += full[len(sent) :]
        row.finished = True
        self._flush(row, self.clock())

    def _flush(self, row: _RowStream, now: float) -> None:
        if row.pending:
            text, row.pending = row.pending, ""
            row.emitted += text
            row.last_flush = now
            self.on_delta(row.candidate, text)


def decode_generated(tokenizer: PreTrainedTokenizerBase, context: list[int], generated: list[int]) -> str:
    """Text of `generated`, decoded after `context` so a leading space or indentation survives."""
    options = {"skip_special_tokens": True, "clean_up_tokenization_spaces": False}
    with_context = tokenizer.decode(context + generated, **options)
    context_text = tokenizer.decode(context, **options)
    if with_context.startswith(context_text):
        return with_context[len(context_text) :]
    return tokenizer.decode(generated, **options)


@dataclass
class _Slot:
    index: int
    attempts: int = 0
    tokens: int = 0
    seconds: float = 0.0
    code: str = ""
    raw: str = ""
    extraction: Extraction | None = None
    temperature: float = 0.0
    finish_reason: FinishReason = "length"


class Generator:
    """Samples candidates from a loaded model with one fixed prompt (the paper's, by default)."""

    def __init__(
        self,
        loaded: LoadedModel,
        settings: GenerationSettings | None = None,
        prompt: PromptSpec | None = None,
        *,
        stream_interval_s: float = 0.05,
    ) -> None:
        self.loaded = loaded
        self.settings = settings or GenerationSettings()
        # At most one on_delta call per candidate per interval (0.05 s = 20/s); the UI cannot show more.
        self.stream_interval_s = stream_interval_s
        self.prompt = prompt or PromptSpec()
        self.prompt_text = render_prompt(loaded.tokenizer, self.prompt)
        tokenizer = loaded.tokenizer
        self.eos_ids = _eos_ids(loaded.model, tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.eos_ids)

    def generate(
        self,
        n: int,
        *,
        check: Callable[[str], bool] | None = None,
        on_delta: TextCallback | None = None,
        should_stop: StopPredicate | None = None,
        on_attempt: AttemptCallback | None = None,
        seed: int | None = None,
    ) -> list[GeneratedCandidate]:
        """Sample `n` candidates, indexed 0..n-1, in batches of `settings.batch_size`.

        `on_delta(index, text)` receives each candidate's text as it grows, starting with the forced prefix, so the
        concatenated deltas of an attempt equal its `raw` text. `on_attempt(index, attempt, temperature)` is called before
        each attempt starts (a retry restarts the candidate's text). A candidate whose code fails `check` is sampled
        again at temperature + step, at most `settings.max_retries` more times; its last attempt is returned either way.
        `should_stop()` is polled between decoding steps: once true, the running batch ends and only candidates that
        have a complete attempt are returned, each with its latest one (so possibly fewer than `n`). An exception
        from `check` counts as a failed check. `seed` seeds torch's sampler first, so a seed reproduces a call.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        settings = self.settings
        if seed is not None:  # the same seed, model and settings sample the same candidates
            torch.manual_seed(seed)
        slots = [_Slot(i) for i in range(n)]
        # The latest complete attempt of each candidate: what is returned, also when cancelled midway.
        latest: dict[int, GeneratedCandidate] = {}
        queue = list(range(n))
        for attempt in range(1, settings.max_retries + 2):
            temperature = settings.temperature_for(attempt)
            retry: list[int] = []
            for start in range(0, len(queue), settings.batch_size):
                batch = [slots[i] for i in queue[start : start + settings.batch_size]]
                if should_stop is not None and should_stop():
                    return _in_order(latest)
                for slot in batch:
                    slot.attempts, slot.temperature = attempt, temperature
                    if on_attempt is not None:
                        on_attempt(slot.index, attempt, temperature)
                if not self._sample_batch(batch, temperature, on_delta, should_stop):
                    return _in_order(latest)
                for slot in batch:
                    # A reply with no usable code fails whatever the check says.
                    passed = slot.code.strip() != "" and _passes(check, slot.code)
                    latest[slot.index] = GeneratedCandidate(
                        slot.index,
                        slot.code,
                        slot.attempts,
                        slot.tokens,
                        slot.seconds,
                        slot.temperature,
                        slot.finish_reason,
                        passed,
                        slot.raw,
                        slot.extraction,
                    )
                    if not passed and attempt <= settings.max_retries:
                        retry.append(slot.index)
            queue = retry
            if not queue:
                break
        return _in_order(latest)

    def _sample_batch(
        self, batch: list[_Slot], temperature: float, on_delta: TextCallback | None, should_stop: StopPredicate | None
    ) -> bool:
        """Sample one attempt for every slot of `batch`; False if cancelled (the slots are then left incomplete)."""
        tokenizer, model, settings = self.loaded.tokenizer, self.loaded.model, self.settings
        encoded = tokenizer(
            [self.prompt_text] * len(batch), return_tensors="pt", padding=True, add_special_tokens=False
        ).to(self.loaded.device)
        prompt_ids: torch.Tensor = encoded["input_ids"]
        contexts = [
            [t for t, m in zip(row.tolist(), mask.tolist(), strict=True) if m][-_DECODE_CONTEXT_TOKENS:]
            for row, mask in zip(prompt_ids, encoded["attention_mask"], strict=True)
        ]
        cancel = _CancelBetweenSteps(should_stop or (lambda: False))
        criteria: list[StoppingCriteria] = [cancel]
        marker = self.prompt.stop_marker
        stop = StopAtMarker(tokenizer, marker, prompt_ids.shape[1]) if marker else None
        if stop is not None:
            criteria.append(stop)
        streamer = None
        if on_delta is not None:
            streamer = BatchStreamer(
                tokenizer,
                [s.index for s in batch],
                contexts,
                self.eos_ids,
                on_delta,
                self.stream_interval_s,
                first_text=self.prompt.forced_prefix,
            )
            if stop is not None:
                streamer.stopped_rows = stop.stopped
        started = time.perf_counter()
        with torch.inference_mode(), cpu_threads(model, self.loaded.device):
            sequences = model.generate(
                **encoded,
                do_sample=True,
                temperature=temperature,
                top_k=settings.top_k,
                top_p=settings.top_p,
                max_new_tokens=settings.max_new_tokens,
                pad_token_id=self.pad_id,
                eos_token_id=sorted(self.eos_ids),
                stopping_criteria=StoppingCriteriaList(criteria),
                streamer=streamer,
            )
        seconds = time.perf_counter() - started
        if cancel.cancelled:
            return False
        generated = sequences[:, prompt_ids.shape[1] :].tolist()
        stopped = stop.stopped if stop is not None else {}
        for position, (slot, row, context) in enumerate(zip(batch, generated, contexts, strict=True)):
            end = next((i for i, token in enumerate(row) if token in self.eos_ids), None)
            reason: FinishReason
            if position in stopped and (end is None or stopped[position] <= end):
                kept, reason = row[: stopped[position]], "stop"
            else:
                kept, reason = (row, "length") if end is None else (row[:end], "eos")
            slot.raw = self.prompt.forced_prefix + decode_generated(tokenizer, context, kept)
            slot.extraction = extract_code(slot.raw)
            slot.code = slot.extraction.code
            slot.tokens += len(kept) + (1 if reason == "eos" else 0)
            slot.seconds += seconds
            slot.finish_reason = reason
        return True


def _in_order(latest: dict[int, GeneratedCandidate]) -> list[GeneratedCandidate]:
    return [latest[index] for index in sorted(latest)]


def _passes(check: Callable[[str], bool] | None, code: str) -> bool:
    if check is None:
        return True
    try:
        return bool(check(code))
    except Exception:  # a checker that crashes on odd code has rejected it
        return False


def _eos_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> set[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), model.config):
        value = getattr(source, "eos_token_id", None) if source is not None else None
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    if not ids:
        raise ModelLoadError(str(model.config.name_or_path), "other", "it has no EOS token", "Set eos_token_id.")
    return ids
