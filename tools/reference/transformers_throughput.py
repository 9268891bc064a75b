#!/usr/bin/env python3
"""Hugging Face transformers throughput on the workload `strata-bench-gpu --serve` runs.

A Llama-3.1-8B-shaped model with random bf16 weights is built in transformers itself on the
GPU (same config as `strata-mkmodel --shape llama-3.1-8b`; throughput does not depend on the
weights' values). REQUESTS prompts of PROMPT_LEN random token ids each generate exactly
NEW_TOKENS tokens (greedy, no stop token), through

  generate        static batching: the prompts in batches of --generate-batch (all at once
                  by default; halved on out-of-memory), one model.generate call per batch;
  generate_batch  continuous batching (ContinuousBatchingManager), default settings.

    python3 tools/reference/transformers_throughput.py [--requests 256] [--prompt-len 512]
        [--new-tokens 512] [--modes generate,generate_batch] [--layers 32]

Prints one markdown row per mode: wall seconds (after a short warm-up), generated tokens/s,
and the generated-token count actually returned (checked against REQUESTS x NEW_TOKENS).
"""
import argparse
import time
import traceback

import torch
import transformers
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM


def llama_31_8b(layers):
    return LlamaConfig(
        vocab_size=128256,
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=layers,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=128,
        max_position_embeddings=131072,
        rms_norm_eps=1e-5,
        rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
        tie_word_embeddings=False,
        bos_token_id=128000,
        eos_token_id=None,
        pad_token_id=0,
    )


def build_model(layers):
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = LlamaForCausalLM(llama_31_8b(layers))
    torch.set_default_dtype(torch.float32)
    model.eval()
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    return model


def greedy_config(new_tokens):
    return GenerationConfig(max_new_tokens=new_tokens, do_sample=False, eos_token_id=None,
                            pad_token_id=0)


@torch.no_grad()
def run_generate(model, prompts, new_tokens, batch):
    """Static batching; returns (seconds, generated tokens, batch used)."""
    while True:
        try:
            torch.cuda.synchronize()
            start = time.perf_counter()
            generated = 0
            for first in range(0, len(prompts), batch):
                ids = torch.tensor(prompts[first:first + batch], device="cuda")
                out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                     generation_config=greedy_config(new_tokens))
                generated += (out.shape[1] - ids.shape[1]) * ids.shape[0]
                del out
            torch.cuda.synchronize()
            return time.perf_counter() - start, generated, batch
        except torch.OutOfMemoryError:
            torch.cuda.empty_cache()
            if batch == 1:
                raise
            batch //= 2
            print(f"generate: out of memory, retrying with batches of {batch}", flush=True)


@torch.no_grad()
def run_generate_batch(model, prompts, new_tokens):
    torch.cuda.synchronize()
    start = time.perf_counter()
    outputs = model.generate_batch(inputs=prompts, generation_config=greedy_config(new_tokens))
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    generated = sum(len(o.generated_tokens) for o in outputs.values())
    return seconds, generated


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--prompt-len", type=int, default=512)
    parser.add_argument("--new-tokens", type=int, default=512)
    parser.add_argument("--modes", default="generate,generate_batch")
    parser.add_argument("--generate-batch", type=int, default=0, help="0: all requests")
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"transformers {transformers.__version__}, torch {torch.__version__}, "
          f"{torch.cuda.get_device_name()}", flush=True)
    start = time.perf_counter()
    model = build_model(args.layers)
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {params / 1e9:.2f} B parameters (bf16, random), {args.layers} layers, built in "
          f"{time.perf_counter() - start:.1f} s; attention {model.config._attn_implementation}",
          flush=True)
    gen = torch.Generator().manual_seed(args.seed)
    prompts = torch.randint(1, 128000, (args.requests, args.prompt_len), generator=gen).tolist()
    want = args.requests * args.new_tokens

    rows = []
    for mode in args.modes.split(","):
        try:
            rows.append(run_mode(model, mode, prompts, args))
        except Exception:  # report and go on with the next mode
            traceback.print_exc()
            print(f"{mode}: failed", flush=True)
        torch.cuda.empty_cache()

    print(f"\n| transformers {transformers.__version__} | requests x in / out | wall s | "
          f"generated tok/s | tokens returned |\n| --- | --- | ---: | ---: | ---: |")
    for label, seconds, generated in rows:
        check = "" if generated == want else f" (expected {want})"
        print(f"| {label} | {args.requests} x {args.prompt_len} / {args.new_tokens} | "
              f"{seconds:.1f} | {generated / seconds:.0f} | {generated}{check} |")


def run_mode(model, mode, prompts, args):
    if mode == "generate":
        run_generate(model, prompts[:2], 4, 2)  # warm-up
        seconds, generated, batch = run_generate(
            model, prompts, args.new_tokens, args.generate_batch or args.requests)
        label = f"generate (static batches of {batch})"
    elif mode == "generate_batch":
        run_generate_batch(model, prompts[:2], 4)  # warm-up
        seconds, generated = run_generate_batch(model, prompts, args.new_tokens)
        label = "generate_batch (continuous batching, defaults)"
    else:
        raise ValueError(f"unknown mode {mode}")
    print(f"{label}: {seconds:.1f} s, {generated} tokens ({generated / seconds:.0f} tok/s)",
          flush=True)
    return label, seconds, generated


if __name__ == "__main__":
    main()
