#!/usr/bin/env python3
"""Reference logits and greedy continuations from Hugging Face transformers.

Builds small random models of each supported architecture with transformers itself (so the
checkpoint is written by code nobody here wrote), runs a batch of prompts of different
lengths through them in float32 on the CPU (no TF32, eager attention), and writes:

  OUT/<name>/            the model directory (config.json, model.safetensors)
  OUT/<name>/reference.safetensors   logits_<i>: [len_i, vocab] float32 per prompt
  OUT/<name>/reference.json          prompts, greedy continuations, top-2 margins

Usage: python3 tools/reference/make_logits_fixtures.py OUT_DIR [NAME ...]
(all models, or only the named ones; each model's seed depends only on its name's rank)
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import AutoConfig, AutoModelForCausalLM

VOCAB = 512
PROMPT_LENGTHS = [1, 5, 17, 33, 64]
CONTINUATION = 32

COMMON = dict(
    vocab_size=VOCAB, hidden_size=64, intermediate_size=160, num_hidden_layers=3,
    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
    rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2, pad_token_id=0,
)

MODELS = {
    "llama": dict(model_type="llama", architectures=["LlamaForCausalLM"], head_dim=16,
                  rope_theta=500000.0, tie_word_embeddings=False,
                  rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                    high_freq_factor=4.0, original_max_position_embeddings=64)),
    "qwen2": dict(model_type="qwen2", architectures=["Qwen2ForCausalLM"], rope_theta=1e6,
                  tie_word_embeddings=True),
    "qwen3": dict(model_type="qwen3", architectures=["Qwen3ForCausalLM"], head_dim=24,
                  rope_theta=1e6, tie_word_embeddings=True),
    # Layer 1 is dense (mlp_only_layers), layers 0 and 2 route each token to 2 of 8 experts.
    "qwen3_moe": dict(model_type="qwen3_moe", architectures=["Qwen3MoeForCausalLM"],
                      head_dim=24, rope_theta=1e6, tie_word_embeddings=False, num_experts=8,
                      num_experts_per_tok=2, moe_intermediate_size=48, norm_topk_prob=True,
                      decoder_sparse_step=1, mlp_only_layers=[1]),
}


def randomize(model, generator):
    """Weights large enough that logits are far from uniform (greedy is then well defined)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=generator))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=generator))
            else:
                p.copy_(0.12 * torch.randn(p.shape, generator=generator))


def main():
    out_dir = sys.argv[1]
    only = set(sys.argv[2:])
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    for seed, (name, extra) in enumerate(sorted(MODELS.items())):
        if only and name not in only:
            continue
        generator = torch.Generator().manual_seed(1234 + seed)
        fields = {**COMMON, **extra}
        config = AutoConfig.for_model(fields.pop("model_type"), **fields)
        model = AutoModelForCausalLM.from_config(config, attn_implementation="eager",
                                                 dtype=torch.float32)
        randomize(model, generator)
        if config.tie_word_embeddings:
            model.tie_weights()
        model.eval()
        model_dir = os.path.join(out_dir, name)
        model.save_pretrained(model_dir, safe_serialization=True)

        prompts = [torch.randint(3, VOCAB, (n,), generator=generator).tolist()
                   for n in PROMPT_LENGTHS]
        tensors, greedy, margins = {}, [], []
        with torch.no_grad():
            for i, prompt in enumerate(prompts):
                ids = torch.tensor([prompt])
                tensors[f"logits_{i}"] = model(ids).logits[0].float().contiguous()
                # Greedy continuation step by step, recording the top-2 margin of each step.
                seq, steps, gaps = list(prompt), [], []
                for _ in range(CONTINUATION):
                    logits = model(torch.tensor([seq])).logits[0, -1]
                    top = torch.topk(logits, 2)
                    token = int(top.indices[0])
                    steps.append(token)
                    gaps.append(float(top.values[0] - top.values[1]))
                    seq.append(token)
                greedy.append(steps)
                margins.append(gaps)
        save_file(tensors, os.path.join(model_dir, "reference.safetensors"))
        with open(os.path.join(model_dir, "reference.json"), "w") as f:
            json.dump({"architecture": extra["architectures"][0],
                       "transformers": __import__("transformers").__version__,
                       "torch": torch.__version__,
                       "prompts": prompts, "greedy": greedy, "top2_margin": margins}, f)
        print(name, "ok", [len(p) for p in prompts], "min margin",
              min(min(m) for m in margins))


if __name__ == "__main__":
    main()
