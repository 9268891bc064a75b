#!/usr/bin/env node
// Renders the chat-template conformance cases (testdata/chat_cases.json) with
// @huggingface/jinja, the JavaScript Jinja of transformers.js, as an independent reference
// for the C++ interpreter. Prints one JSON object per line:
//   {"case": NAME, "template": NAME, "output": TEXT}  or  {..., "error": MESSAGE}
// Usage (from the repository root): node tests/server/chat_template/render_reference.js [ROOT]
// Exits with status 3 when @huggingface/jinja cannot be loaded.
"use strict";

const fs = require("fs");
const path = require("path");

const root = path.resolve(process.argv[2] || process.cwd());

let Template;
try {
  ({ Template } = require("@huggingface/jinja"));
} catch (e) {
  process.stderr.write(`cannot load @huggingface/jinja: ${e.message}\n`);
  process.exit(3);
}

const spec = JSON.parse(
  fs.readFileSync(path.join(root, "tests/server/chat_template/testdata/chat_cases.json"), "utf8"),
);

// A special token in tokenizer_config.json is a string or an AddedToken object.
function tokenText(token) {
  if (token && typeof token === "object") return token.content;
  return token;
}

for (const [name, def] of Object.entries(spec.templates)) {
  const config = JSON.parse(
    fs.readFileSync(path.join(root, def.tokenizer_dir, "tokenizer_config.json"), "utf8"),
  );
  const source = def.template_file
    ? fs.readFileSync(path.join(root, def.template_file), "utf8")
    : config.chat_template;
  let template = null;
  let compileError = null;
  try {
    template = new Template(source);
  } catch (e) {
    compileError = String(e.message);
  }
  for (const c of spec.cases) {
    if (c.templates && !c.templates.includes(name)) continue;
    const vars = {
      messages: c.messages,
      add_generation_prompt: c.add_generation_prompt,
      tools: c.tools === undefined ? null : c.tools,
      documents: null,
    };
    const bos = tokenText(config.bos_token);
    const eos = tokenText(config.eos_token);
    if (bos) vars.bos_token = bos;
    if (eos) vars.eos_token = eos;
    Object.assign(vars, def.default_variables || {}, c.variables || {});
    const record = { case: c.name, template: name };
    if (compileError !== null) {
      record.error = compileError;
    } else {
      try {
        record.output = template.render(JSON.parse(JSON.stringify(vars)));
      } catch (e) {
        record.error = String(e.message);
      }
    }
    process.stdout.write(JSON.stringify(record) + "\n");
  }
}
