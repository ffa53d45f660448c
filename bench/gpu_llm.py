"""GPU measurement of the LLM half at the paper's small-model size: batched sampling tokens/s and LoRA SFT steps/s.

Standalone (torch + transformers + peft only, no network, no hub): the model is a random-weight Llama with
deepseek-coder-1.3b's shape, taken from its config values (hidden 2048, intermediate 5504, 24 layers, 16 heads,
vocab 32256, rope theta 100000). Random weights decode exactly as fast as trained ones; EOS is suppressed so every
row runs to its length.

  1. sampling: the paper's decoding (temperature 0.7, top-k 100, top-p 0.95) of 150 candidates x ~1k new tokens
     in one batch, beside smaller batches and a one-by-one baseline (fewer tokens, extrapolated per token);
  2. LoRA SFT as in the paper (r 32, alpha 32, dropout 0.05, q/k/v/o/gate/up/down, batch 1 x grad-accum 8, bf16,
     gradient checkpointing, prompt tokens masked) over 2,000 synthetic prompt/completion pairs, time-boxed.

Run on one GPU:  python bench/gpu_llm.py            (about 4 minutes on an H100/H200)
Check the code on a CPU:  python bench/gpu_llm.py --smoke   (tiny shape, seconds)
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import platform
import time
from dataclasses import dataclass

import torch
from transformers import LlamaConfig, LlamaForCausalLM

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass(frozen=True)
class Plan:
    config: LlamaConfig
    prompt_tokens: int
    candidates: int
    new_tokens: int
    batch_sweep: tuple[int, ...]
    sweep_tokens: int
    baseline_tokens: int
    pairs: int
    completion_tokens: int
    sft_seconds: float


def deepseek_coder_1_3b_shape() -> LlamaConfig:
    return LlamaConfig(
        vocab_size=32256,
        hidden_size=2048,
        intermediate_size=5504,
        num_hidden_layers=24,
        num_attention_heads=16,
        num_key_value_heads=16,
        max_position_embeddings=16384,
        rope_parameters={"rope_type": "linear", "factor": 4.0, "rope_theta": 100000.0},
        bos_token_id=32013,
        eos_token_id=32021,
        pad_token_id=32014,
        tie_word_embeddings=False,
    )


def tiny_shape() -> LlamaConfig:
    return LlamaConfig(
        vocab_size=512,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=2048,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )


def build_model(config: LlamaConfig, device: torch.device, dtype: torch.dtype) -> LlamaForCausalLM:
    torch.manual_seed(0)
    with device:
        model = LlamaForCausalLM(config)
    return model.to(dtype).eval()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sample(model: LlamaForCausalLM, batch: int, prompt_tokens: int, new_tokens: int, device: torch.device) -> float:
    """Seconds to sample `new_tokens` for `batch` rows of one (repeated) prompt with the paper's settings."""
    config = model.config
    prompt = torch.randint(3, config.vocab_size, (1, prompt_tokens), device=device).expand(batch, -1)
    synchronize(device)
    started = time.perf_counter()
    with torch.inference_mode():
        model.generate(
            input_ids=prompt,
            attention_mask=torch.ones_like(prompt),
            do_sample=True,
            temperature=0.7,
            top_k=100,
            top_p=0.95,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,  # EOS suppressed: every row does the full work
            pad_token_id=config.pad_token_id,
            eos_token_id=config.eos_token_id,
        )
    synchronize(device)
    return time.perf_counter() - started


def sampling_table(model: LlamaForCausalLM, plan: Plan, device: torch.device) -> None:
    print(f"\n== sampling: prompt {plan.prompt_tokens} tokens, temperature 0.7, top-k 100, top-p 0.95")
    print(f"{'batch':>6} {'new tokens':>11} {'seconds':>8} {'tokens/s':>10} {'vs one-by-one':>14}")
    sample(model, 1, plan.prompt_tokens, 4, device)  # warm-up (kernels, allocator)
    runs = [(1, plan.baseline_tokens)] + [(b, plan.sweep_tokens) for b in plan.batch_sweep]
    runs.append((plan.candidates, plan.new_tokens))
    baseline = None
    for batch, new_tokens in runs:
        seconds = sample(model, batch, plan.prompt_tokens, new_tokens, device)
        rate = batch * new_tokens / seconds
        baseline = baseline or rate
        print(f"{batch:>6} {new_tokens:>11} {seconds:>8.2f} {rate:>10.0f} {rate / baseline:>13.1f}x", flush=True)
    if device.type == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB")
    print(
        f"one cycle ({plan.candidates} x {plan.new_tokens} tokens, batched): {seconds:.0f} s; "
        f"one by one it would take ~{plan.candidates * plan.new_tokens / baseline / 60:.0f} min"
    )


def lora_sft(model: LlamaForCausalLM, plan: Plan, device: torch.device) -> None:
    from peft import LoraConfig, get_peft_model

    print(
        f"\n== LoRA SFT: {plan.pairs} synthetic pairs ({plan.prompt_tokens}-token prompt masked, "
        f"{plan.completion_tokens}-token completion), batch 1 x grad-accum 8, time box {plan.sft_seconds:.0f} s"
    )
    on_cuda = device.type == "cuda"
    model.train()
    model.config.use_cache = False
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    peft_model = get_peft_model(
        model,
        LoraConfig(r=32, lora_alpha=32, lora_dropout=0.05, bias="none", target_modules=targets, task_type="CAUSAL_LM"),
    )
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    print(f"trainable LoRA parameters: {sum(p.numel() for p in trainable) / 1e6:.1f}M")
    if on_cuda and importlib.util.find_spec("bitsandbytes") is not None:
        import bitsandbytes as bnb

        optimizer: torch.optim.Optimizer = bnb.optim.PagedAdamW8bit(trainable, lr=1e-5, weight_decay=0.01)
        optimizer_name = "paged_adamw_8bit"
    else:
        optimizer = torch.optim.AdamW(trainable, lr=1e-5, weight_decay=0.01)
        optimizer_name = "torch AdamW"
    generator = torch.Generator().manual_seed(0)
    length = plan.prompt_tokens + plan.completion_tokens
    pairs = torch.randint(3, model.config.vocab_size, (plan.pairs, length), generator=generator)
    labels = pairs.clone()
    labels[:, : plan.prompt_tokens] = -100  # the prompt is masked out of the loss, as in finetune.py
    accum, micro, steps = 8, 0, 0
    synchronize(device)
    started = time.perf_counter()
    while time.perf_counter() - started < plan.sft_seconds:
        index = micro % plan.pairs
        batch = pairs[index : index + 1].to(device)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=on_cuda):
            loss = peft_model(input_ids=batch, labels=labels[index : index + 1].to(device)).loss
        (loss / accum).backward()
        micro += 1
        if micro % accum == 0:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            steps += 1
            synchronize(device)
    seconds = time.perf_counter() - started
    steps_per_s = steps / seconds
    full_cycle = math.ceil(plan.pairs * 5 / accum)
    print(f"optimizer: {optimizer_name}; {steps} optimizer steps ({micro} micro-steps) in {seconds:.1f} s")
    print(f"{'SFT steps/s':>12} {'micro/s':>8} {'train tokens/s':>15} {'5-epoch cycle':>14}")
    eta = full_cycle / steps_per_s / 60 if steps else float("inf")
    print(f"{steps_per_s:>12.3f} {micro / seconds:>8.2f} {micro * length / seconds:>15.0f} {eta:>11.1f} min")
    if on_cuda:
        print(f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--smoke", action="store_true", help="tiny shape on any device, to check the script")
    parser.add_argument("--sft-seconds", type=float, default=60.0)
    parser.add_argument("--skip-sft", action="store_true")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.smoke:
        plan = Plan(tiny_shape(), 32, 6, 16, (2,), 8, 8, 20, 24, 2.0)
    else:
        if device.type != "cuda":
            raise SystemExit("needs a CUDA GPU (use --smoke to check the script on a CPU)")
        plan = Plan(deepseek_coder_1_3b_shape(), 400, 150, 1024, (16, 64), 256, 128, 2000, 600, args.sft_seconds)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"device: {name}; torch {torch.__version__}")
    started = time.perf_counter()
    model = build_model(plan.config, device, dtype)
    params = sum(p.numel() for p in model.parameters())
    print(f"model: random Llama {params / 1e9:.2f}B params ({dtype}), built in {time.perf_counter() - started:.1f} s")
    sampling_table(model, plan, device)
    if not args.skip_sft:
        lora_sft(model, plan, device)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
