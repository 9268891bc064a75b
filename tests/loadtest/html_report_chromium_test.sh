#!/usr/bin/env bash
# The HTML report renders in headless Chromium without errors: the page's script marks
# <body data-rendered="ok"> once every chart is drawn (an error marks it "error: ..."), the
# DOM holds the drawn SVG, the console shows no uncaught error, and a screenshot is taken
# (kept under BUILD_DIR/tests/loadtest-screenshots/).
#   html_report_chromium_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "SKIP: chromium is not installed (scripts/setup installs it)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
shots="$build/tests/loadtest-screenshots"
mkdir -p "$shots"
fail() { echo "FAIL: $*" >&2; exit 1; }

sample="$src/tests/loadtest/data/sample_result.json"
"$build/bin/strata-loadtest" report "$sample" --html "$work/report.html" > /dev/null
"$build/bin/strata-loadtest" compare "$sample" "$sample" --names before,after \
  --html "$work/compare.html" > /dev/null

chrome() {
  "$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
    --user-data-dir="$work/profile" --virtual-time-budget=10000 --enable-logging=stderr --v=0 "$@"
}

for page in report compare; do
  chrome --dump-dom "file://$work/$page.html" > "$work/$page.dom" 2> "$work/$page.log" \
    || fail "$page: chromium exited with an error: $(tail -5 "$work/$page.log")"
  grep -q 'data-rendered="ok"' "$work/$page.dom" \
    || fail "$page: the script did not finish: $(grep -o 'data-rendered="[^"]*"' "$work/$page.dom" || echo 'no marker')"
  if grep -E 'Uncaught|SyntaxError|TypeError|ReferenceError' "$work/$page.log"; then
    fail "$page: script errors on the console"
  fi
  charts=$(grep -o '<svg' "$work/$page.dom" | wc -l)
  paths=$(grep -o '<path' "$work/$page.dom" | wc -l)
  dots=$(grep -o '<circle' "$work/$page.dom" | wc -l)
  [ "$charts" -eq 8 ] || fail "$page: expected 8 charts, found $charts"
  [ "$paths" -ge 7 ] || fail "$page: expected at least 7 drawn curves, found $paths"
  [ "$dots" -ge 10 ] || fail "$page: expected the TTFT scatter, found $dots points"
  chrome --screenshot="$shots/$page.png" --window-size=1280,3300 --hide-scrollbars \
    "file://$work/$page.html" > /dev/null 2>> "$work/$page.log" \
    || fail "$page: screenshot failed: $(tail -5 "$work/$page.log")"
  [ "$(head -c 8 "$shots/$page.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] \
    || fail "$page: the screenshot is not a PNG"
  size=$(stat -c %s "$shots/$page.png")
  [ "$size" -gt 20000 ] || fail "$page: the screenshot is only $size bytes"
  echo "$page: rendered ($charts charts, $paths curves, $dots points); screenshot $shots/$page.png ($size bytes)"
done
