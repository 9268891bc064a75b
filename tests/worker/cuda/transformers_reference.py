#!/usr/bin/env python3
"""Reference logits and greedy tokens from Hugging Face transformers for a model directory
(e.g. one written by strata-mkmodel), read by strata-cuda-model-test's real-shape tests.

    python3 tests/worker/cuda/transformers_reference.py MODEL_DIR [--prompt-lens 5,33,200,700]

Writes MODEL_DIR/reference.json (prompts, the positions whose logits are kept, greedy
continuations and their top-2 margins, from float32) and MODEL_DIR/reference.safetensors
(logits_fp32_<i> and logits_bf16_<i>: [positions, vocab] float32, the model run in float32
and in bfloat16 on the GPU).
"""
import argparse
import json
import os

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM


def kept_positions(n):
    return [p for p in range(n) if p % 4 == 0 or p >= n - 4]


@torch.no_grad()
def greedy(model, prompt, steps):
    ids = torch.tensor([prompt], device="cuda")
    out = model(input_ids=ids, use_cache=True)
    tokens, margins = [], []
    for _ in range(steps):
        logits = out.logits[0, -1].float()
        top = torch.topk(logits, 2)
        token = int(torch.argmax(logits))
        tokens.append(token)
        margins.append(float(top.values[0] - top.values[1]))
        out = model(input_ids=torch.tensor([[token]], device="cuda"),
                    past_key_values=out.past_key_values, use_cache=True)
    return tokens, margins


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("--prompt-lens", default="5,33,200,700")
    parser.add_argument("--new-tokens", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = json.load(open(os.path.join(args.model_dir, "config.json")))
    vocab = config["vocab_size"]
    gen = torch.Generator().manual_seed(args.seed)
    prompts = [torch.randint(0, vocab, (int(n),), generator=gen).tolist()
               for n in args.prompt_lens.split(",")]
    tensors = {}
    result = {"prompts": prompts, "positions": [kept_positions(len(p)) for p in prompts]}
    for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=dtype).cuda().eval()
        with torch.no_grad():
            for i, p in enumerate(prompts):
                logits = model(input_ids=torch.tensor([p], device="cuda")).logits[0].float()
                keep = torch.tensor(result["positions"][i], device="cuda")
                tensors[f"logits_{name}_{i}"] = logits[keep].cpu().contiguous()
        if name == "fp32":
            runs = [greedy(model, p, args.new_tokens) for p in prompts]
            result["greedy"] = [r[0] for r in runs]
            result["top2_margin"] = [r[1] for r in runs]
        del model
        torch.cuda.empty_cache()
    save_file(tensors, os.path.join(args.model_dir, "reference.safetensors"))
    with open(os.path.join(args.model_dir, "reference.json"), "w") as f:
        json.dump(result, f)
    print(f"reference for {len(prompts)} prompts written to {args.model_dir}")


if __name__ == "__main__":
    main()
