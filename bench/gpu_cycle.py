"""One `gpu-small` cycle's LLM half through the product's own code: `Generator` (llm/generate.py) at the preset's batch
size and decoding, stopping at the code's end, and `finetune()` (llm/finetune.py) with the preset's [sft] and [lora]
settings, beside raw Hugging Face `model.generate` at the same batch as the baseline.

The model is a random-weight Llama of deepseek-coder-1.3b-instruct's shape (hidden 2048, intermediate 5504, 24 layers,
16 heads, vocab 32256, rope theta 100000, linear rope factor 4) saved to a temporary folder with a byte-level BPE
tokenizer (trained on the seed nets, padded to the model's vocabulary) and a chat template laid out like that
model's (`### Instruction:` / `### Response:`, `<|EOT|>` ending a turn). Nothing is downloaded. Random weights decode
as fast as trained ones but never close the code fence, so every row runs to max_new_tokens (generation's worst case)
and no candidate is valid: "tokens per valid candidate" is printed only with `--model` naming a real checkpoint.

Printed: seconds per stage (save, load, generate, baseline, finetune), tokens per candidate (and per valid one),
tokens/s of Generator and of raw generate with their ratio, optimizer steps/s and trained tokens/s of finetune(),
the projected time of one epoch over 2,000 pairs, and peak memory per stage (CUDA: max allocated; CPU: max RSS).

  python bench/gpu_cycle.py            one H100: about 6-8 minutes (2 batches of 16 x 2048 tokens, 20 SFT steps)
  python bench/gpu_cycle.py --tiny     a tiny shape on the CPU: checks the script in well under a minute
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "remote-python"))

import torch  # noqa: E402
from archloop.config import load_config  # noqa: E402
from archloop.corpus.seeds import load_seed_corpus  # noqa: E402
from archloop.llm.demo_model import strip_seed_header, train_tokenizer  # noqa: E402
from archloop.llm.finetune import finetune  # noqa: E402
from archloop.llm.generate import Generator, load_model  # noqa: E402
from archloop.llm.prompts import render_prompt, training_pair  # noqa: E402
from archloop.llm.reply import extract_code  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

BOS, EOS, PAD = "<｜begin▁of▁sentence｜>", "<|EOT|>", "<｜end▁of▁sentence｜>"
# Laid out like deepseek-coder-*-instruct's template: BOS, a default system line when none is given, `### Instruction:`
# user turns, `### Response:` assistant turns ended by <|EOT|>.
DEEPSEEK_LIKE_TEMPLATE = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{%- set ns = namespace(found=false) -%}"
    "{%- for message in messages -%}{%- if message['role'] == 'system' -%}{%- set ns.found = true -%}{%- endif -%}"
    "{%- endfor -%}{{ bos_token }}"
    "{%- if not ns.found -%}{{ 'You are an AI programming assistant, utilizing the DeepSeek Coder model.\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}{{ message['content'] }}"
    "{%- elif message['role'] == 'user' %}{{ '### Instruction:\\n' + message['content'] + '\\n' }}"
    "{%- else %}{{ '### Response:\\n' + message['content'] + '\\n<|EOT|>\\n' }}{%- endif %}{%- endfor %}"
    "{% if add_generation_prompt %}{{ '### Response:' }}{% endif %}"
)


def model_config(tiny: bool, vocab: int, tokenizer) -> LlamaConfig:
    shape = (
        dict(hidden_size=64, intermediate_size=172, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4)
        if tiny
        else dict(
            hidden_size=2048, intermediate_size=5504, num_hidden_layers=24, num_attention_heads=16, num_key_value_heads=16
        )
    )
    return LlamaConfig(
        vocab_size=vocab,
        max_position_embeddings=16384,
        rope_theta=100000.0,
        rope_scaling={"type": "linear", "factor": 4.0},
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        **shape,
    )


def save_model(folder: Path, tiny: bool, device: torch.device) -> None:
    texts = [strip_seed_header(s.code) for s in load_seed_corpus()]
    tokenizer = train_tokenizer([render_prompt(None), *texts], vocab_size=2000 if tiny else 8000)
    tokenizer.add_special_tokens({"bos_token": BOS, "eos_token": EOS, "pad_token": PAD})
    vocab = len(tokenizer) if tiny else 32256
    # Filler tokens so every id the model can sample decodes (the real vocabulary is 32256 byte-level BPE tokens).
    tokenizer.add_tokens([f"\u2581w{i}" for i in range(vocab - len(tokenizer))])
    tokenizer.chat_template = DEEPSEEK_LIKE_TEMPLATE
    tokenizer.save_pretrained(str(folder))
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    with torch.device(device):
        model = LlamaForCausalLM(model_config(tiny, vocab, tokenizer)).to(dtype)
    model.save_pretrained(str(folder))
    del model


class Peak:
    """Peak memory of a stage: CUDA max allocated, or the process's max RSS on the CPU (which never goes down)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def reset(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

    def gib(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() / 2**30
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny shape on the CPU, to check the script")
    parser.add_argument("--model", help="a real checkpoint (local path) instead of the random deepseek-shaped one")
    parser.add_argument("--batches", type=int, default=2, help="generation batches of the preset's batch size")
    parser.add_argument("--sft-steps", type=int, default=20, help="optimizer steps of finetune() (time box)")
    parser.add_argument("--pair-tokens", type=int, default=1000, help="tokens per synthetic training pair")
    args = parser.parse_args()

    config = load_config(preset="gpu-small")
    gen = config.generation
    sft = dataclasses.replace(config.sft, max_steps=args.sft_steps)
    device = torch.device("cpu" if args.tiny or not torch.cuda.is_available() else "cuda:0")
    if args.tiny:
        gen = dataclasses.replace(gen, batch_size=4, max_new_tokens=48)
        sft = dataclasses.replace(sft, max_steps=2, grad_accum=2, max_length=512)
        args.pair_tokens = min(args.pair_tokens, 300)
    gen = dataclasses.replace(gen, max_retries=0)  # one attempt per candidate: retries would time the same thing
    peak = Peak(device)
    print(f"device: {torch.cuda.get_device_name(0) if device.type == 'cuda' else 'cpu'}; torch {torch.__version__}")
    print(f"generation: batch {gen.batch_size} x {args.batches}, max_new_tokens {gen.max_new_tokens}, "
          f"T {gen.temperature} top-k {gen.top_k} top-p {gen.top_p}")

    with tempfile.TemporaryDirectory(prefix="archloop-gpu-cycle-") as tmp:
        folder = Path(args.model) if args.model else Path(tmp) / "model"
        started = time.perf_counter()
        if not args.model:
            folder.mkdir()
            save_model(folder, args.tiny, device)
        print(f"save: {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        loaded = load_model(folder, device=str(device), quantization=config.model.quantization)
        print(f"load: {time.perf_counter() - started:.1f} s")

        # ---- the product's Generator --------------------------------------------------------------------------
        generator = Generator(loaded, gen)
        n = gen.batch_size * args.batches
        peak.reset()
        started = time.perf_counter()
        results = generator.generate(n, check=lambda code: extract_code(code).ok, seed=config.run.seed)
        gen_seconds = time.perf_counter() - started
        gen_peak = peak.gib()
        tokens = sum(r.tokens for r in results)
        valid = [r for r in results if r.passed_check]
        per_valid = f"{sum(r.tokens for r in valid) / len(valid):.0f}" if valid else "n/a (no valid candidate)"
        print(f"generate (Generator): {gen_seconds:.1f} s, {n} candidates, {tokens} tokens, "
              f"{tokens / n:.0f} tokens/candidate, {len(valid)} valid, tokens per valid candidate {per_valid}, "
              f"{tokens / gen_seconds:.0f} tokens/s, peak {gen_peak:.2f} GiB")

        # ---- raw Hugging Face generate at the same batch: the baseline ----------------------------------------
        tokenizer, model = loaded.tokenizer, loaded.model
        prompt = generator.prompt_text
        encoded = tokenizer([prompt] * gen.batch_size, return_tensors="pt", add_special_tokens=False, padding=True)
        encoded = {k: v.to(loaded.device) for k, v in encoded.items()}
        peak.reset()
        torch.manual_seed(config.run.seed)
        started = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                **encoded, do_sample=True, temperature=gen.temperature, top_k=gen.top_k, top_p=gen.top_p,
                max_new_tokens=gen.max_new_tokens, pad_token_id=generator.pad_id, eos_token_id=sorted(generator.eos_ids),
            )
        raw_seconds = time.perf_counter() - started
        raw_tokens = int((out[:, encoded["input_ids"].shape[1]:] != generator.pad_id).sum())
        raw_rate = raw_tokens / raw_seconds
        print(f"baseline (model.generate, batch {gen.batch_size}): {raw_seconds:.1f} s, {raw_tokens} tokens, "
              f"{raw_rate:.0f} tokens/s, peak {peak.gib():.2f} GiB")
        print(f"Generator / raw generate tokens/s: {tokens / gen_seconds / raw_rate:.2f}")
        del out, encoded, model, generator, loaded
        if device.type == "cuda":
            torch.cuda.empty_cache()

        # ---- the product's finetune() ---------------------------------------------------------------------------
        seeds = [strip_seed_header(s.code) for s in load_seed_corpus()]
        pairs = []
        for i in range(2000):
            pair = training_pair(seeds[i % len(seeds)], tokenizer)
            body = pair.completion
            while len(tokenizer(body, add_special_tokens=False)["input_ids"]) < args.pair_tokens:
                body = "# " + seeds[(i + 1) % len(seeds)].replace("\n", "\n# ") + "\n" + body
            pairs.append((pair.prompt, body))
        lengths = [len(tokenizer(p + c, add_special_tokens=False)["input_ids"]) for p, c in pairs[:50]]
        mean_tokens = min(sum(lengths) / len(lengths), sft.max_length)
        steps_seen: list[float] = []
        peak.reset()
        started = time.perf_counter()
        result = finetune(
            folder, pairs, out_dir=Path(tmp) / "adapter", settings=sft, lora=config.lora, seed=config.run.seed,
            on_progress=lambda step, total, loss, eta: steps_seen.append(time.perf_counter()),
            device=str(device), quantization=config.model.quantization,
        )
        ft_seconds = time.perf_counter() - started
        # Steps/s over the steps after the first (the first includes load, adapter set-up and warm-up).
        window = steps_seen[-1] - steps_seen[0] if len(steps_seen) > 1 else ft_seconds
        steps_per_s = (len(steps_seen) - 1) / window if len(steps_seen) > 1 else result.steps / ft_seconds
        trained_tokens_per_s = steps_per_s * sft.batch_size * sft.grad_accum * mean_tokens
        epoch_s = 2000 * mean_tokens / trained_tokens_per_s
        print(f"finetune(): {ft_seconds:.1f} s for {result.steps} steps (batch {sft.batch_size} x accum "
              f"{sft.grad_accum}, ~{mean_tokens:.0f} tokens/pair, optimizer {sft.optimizer}, bf16 {sft.bf16}, "
              f"checkpointing {sft.gradient_checkpointing}), {steps_per_s:.3f} steps/s, "
              f"{trained_tokens_per_s:.0f} tokens/s, peak {peak.gib():.2f} GiB, loss {result.final_loss:.3f}")
        print(f"projected epoch over 2,000 pairs of ~{mean_tokens:.0f} tokens: {epoch_s / 60:.1f} min")


if __name__ == "__main__":
    main()
