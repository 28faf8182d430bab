#!/usr/bin/env bash
# Browser test of the HTML report: Debian's Chromium, headless, renders index.html and a head page to
# PNG from file:// with no console errors, and its DOM holds the charts. Skips (exit 77) when
# chromium is missing, unless CI=true, where that is a failure.
# Usage: browser_report_test.sh CIRCUITS_BINARY SOURCE_DIR
set -euo pipefail
circuits=$1
source_dir=$2
python=/usr/bin/python3

chromium_bin=$(command -v chromium || true)
if [ -z "$chromium_bin" ]; then
  if [ "${CI:-}" = true ]; then
    echo "FAIL: chromium is not installed (scripts/install_deps.sh installs it)" >&2
    exit 1
  fi
  echo "SKIP: chromium is not installed"
  exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One headless run; stderr (with console messages) goes to $work/log-NAME.txt.
browse() {  # browse NAME MODE(screenshot|dump) URL
  local name=$1 mode=$2 url=$3 profile
  profile=$(mktemp -d "$work/profile.XXXXXX")
  local args=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
              --disable-component-update --disable-sync --user-data-dir="$profile" --enable-logging=stderr --v=0
              --window-size=1200,900 --virtual-time-budget=5000)
  if [ "$mode" = screenshot ]; then
    timeout 120 "$chromium_bin" "${args[@]}" --screenshot="$work/$name.png" "$url" >/dev/null 2>"$work/log-$name.txt"
  else
    timeout 120 "$chromium_bin" "${args[@]}" --dump-dom "$url" >"$work/$name.dom" 2>"$work/log-$name.txt"
  fi
}

console_errors() {  # prints console messages of a run
  grep -E "CONSOLE|Uncaught" "$work/log-$1.txt" || true
}

# The console check itself must be able to fail: a page that logs an error is caught.
printf '<!DOCTYPE html><html><body><script>console.error("planted error")</script></body></html>' >"$work/bad.html"
browse bad screenshot "file://$work/bad.html"
if ! console_errors bad | grep -q "planted error"; then
  echo "FAIL: console messages are not captured from chromium's log" >&2
  cat "$work/log-bad.txt" >&2
  exit 1
fi

# The fixture: the planted model with awkward token strings and training curves, and its results.
"$circuits" planted -o "$work/model.h5" --tokens 6 --n-ctx 16 >/dev/null
"$python" "$source_dir/tests/scripts/make_report_fixture.py" "$work/model.h5" "$work/results.h5"
"$circuits" report "$work/results.h5" -o "$work/report"

status=0
check_page() {  # check_page NAME RELATIVE_PATH ID...
  local name=$1 page=$2
  shift 2
  browse "$name" screenshot "file://$work/report/$page"
  browse "$name-dom" dump "file://$work/report/$page"
  for run in "$name" "$name-dom"; do
    local errors
    errors=$(console_errors "$run")
    if [ -n "$errors" ]; then
      echo "FAIL: $page: console messages:" >&2
      echo "$errors" >&2
      status=1
    fi
  done
  for id in "$@"; do
    if ! grep -q "id=\"$id\"" "$work/$name-dom.dom"; then
      echo "FAIL: $page: the rendered DOM has no element with id $id" >&2
      status=1
    fi
  done
  # A real rendering: a 1200x900 PNG with many colours and a good share of non-white pixels.
  "$python" - "$work/$name.png" <<'EOF' || status=1
import struct, sys, zlib

path = sys.argv[1]
data = open(path, "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit(f"FAIL: {path} is not a PNG")
pos, chunks, idat = 8, {}, b""
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IDAT":
        idat += body
    chunks.setdefault(kind, body)
    pos += 12 + length
width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
if (width, height) != (1200, 900):
    sys.exit(f"FAIL: {path} is {width}x{height}, expected 1200x900")
if depth != 8 or colour not in (2, 6) or interlace:
    sys.exit(f"FAIL: {path}: unexpected PNG format (depth {depth}, colour type {colour})")
bpp = 3 if colour == 2 else 4
raw = zlib.decompress(idat)
stride = width * bpp
prev = bytearray(stride)
colours, non_white = set(), 0
for y in range(height):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1:
            line[i] = (line[i] + a) & 255
        elif f == 2:
            line[i] = (line[i] + b) & 255
        elif f == 3:
            line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = line
    for x in range(0, stride, bpp * 3):  # every third pixel
        px = bytes(line[x:x + 3])
        colours.add(px)
        non_white += px != b"\xff\xff\xff"
sampled = height * len(range(0, stride, bpp * 3))
share = non_white / sampled
print(f"{path}: {width}x{height}, {len(colours)} colours, {share:.1%} non-white")
if len(colours) < 32 or share < 0.03:
    sys.exit(f"FAIL: {path} looks blank ({len(colours)} colours, {share:.1%} non-white)")
EOF
  cp "$work/$name.png" "${REPORT_SCREENSHOT_DIR:-$work}/" 2>/dev/null || true
}

check_page index index.html grid-prev_token grid-induction grid-ov_copying composition-k composition-graph path-norms \
  order-loss training-loss training-entropy training-induction
check_page head heads/L1H0.html ov-top qk-top skip-trigrams ov-eigenvalues qk-eigenvalues qk-pos probe-attention \
  partners viewer viewer-heatmap
check_page layer layers/L1.html viewer viewer-heatmap

# Token strings render as text: the DOM Chromium built holds them escaped, with no <b> element.
if grep -q "<b>&amp;amp;" "$work/head-dom.dom" || ! grep -q "&lt;b&gt;&amp;amp;" "$work/head-dom.dom"; then
  echo "FAIL: the token '<b>&amp;' did not render as text" >&2
  status=1
fi
if ! grep -q "héllo✓" "$work/head-dom.dom"; then
  echo "FAIL: non-ASCII token missing from the rendered DOM" >&2
  status=1
fi
# The attention viewer, SVG export and the composition graph on the bundled planted model (L0H0 is a
# previous-token head, L1H0 an induction head reading it through K-composition), with a --tokens input
# of our own beside the probe. The page's own script (#selftest) focuses and hovers every token and
# writes the key its shading marks strongest; check_viewer_selftest.py checks the planted behaviour.
"$circuits" analyze "$source_dir/data/models/planted-2l.h5" -o "$work/planted.h5" --passes composition,induction \
  >/dev/null
printf 'a b c d e f g a b c d e f g\n# a comment line\nh i j k h i j k w x\n' >"$work/tokens.txt"
"$circuits" report "$work/planted.h5" -o "$work/planted" --tokens "$work/tokens.txt" >/dev/null
selftest() {  # selftest NAME PAGE HEAD=KIND...
  local name=$1 page=$2
  shift 2
  browse "$name" dump "file://$work/planted/$page#selftest"
  local errors
  errors=$(console_errors "$name")
  if [ -n "$errors" ]; then
    echo "FAIL: $page#selftest: console messages:" >&2
    echo "$errors" >&2
    status=1
  fi
  "$python" "$source_dir/tests/scripts/check_viewer_selftest.py" "$work/$name.dom" "$@" || status=1
}
selftest viewer-prev heads/L0H0.html L0H0=prev
selftest viewer-induction heads/L1H0.html L1H0=induction
selftest viewer-layer0 layers/L0.html L0H0=prev
selftest viewer-layer1 layers/L1.html L1H0=induction
# The self-test checker must be able to fail: the induction head is not a previous-token head.
if "$python" "$source_dir/tests/scripts/check_viewer_selftest.py" "$work/viewer-induction.dom" L1H0=prev \
  >/dev/null 2>&1; then
  echo "FAIL: check_viewer_selftest.py accepted the induction head as a previous-token head" >&2
  status=1
fi
for input in "induction probe" "tokens.txt sequence 1" "tokens.txt sequence 2"; do
  grep -q "&quot;input&quot;:&quot;$input&quot;\|\"input\":\"$input\"" "$work/viewer-induction.dom" ||
    { echo "FAIL: the viewer has no input '$input'" >&2; status=1; }
done

# Composition graph: exactly the planted edge (K-composition L0H0 -> L1H0) is above the threshold.
browse graph dump "file://$work/planted/index.html"
edges=$(grep -o 'id="edge-[^"]*"' "$work/graph.dom" | tr '\n' ' ')
if [ "$edges" != 'id="edge-k-L0H0-L1H0" ' ]; then
  echo "FAIL: composition graph edges: '$edges', expected only edge-k-L0H0-L1H0" >&2
  status=1
fi
grep -q 'id="composition-graph-caption"' "$work/graph.dom" || { echo "FAIL: no graph caption" >&2; status=1; }
cp "$work/viewer-layer1.dom" "${REPORT_SCREENSHOT_DIR:-$work}/" 2>/dev/null || true

# Full vocabulary (d_vocab 48262, files written by h5py): the head page's token-table search loads
# heads/data/*.js and vocab.js and finds a row the page does not show (#selftest searches it).
"$python" "$source_dir/tests/scripts/make_big_vocab_report.py" "$work/big.h5" "$work/big.results.h5"
"$circuits" report "$work/big.results.h5" -o "$work/big" >/dev/null
browse big dump "file://$work/big/heads/L0H0.html#selftest"
"$python" - "$work/big.dom" <<'EOF2' || status=1
import html, json, re, sys
m = re.search(r'<pre id="selftest">(.*?)</pre>', open(sys.argv[1], encoding="utf-8").read(), re.S)
if not m:
    sys.exit("FAIL: big vocabulary head page: no #selftest output")
searches = json.loads(html.unescape(m.group(1)))["searches"]
if sorted(s.get("table") for s in searches) != ["ov-top", "qk-top"] or not all(s["ok"] for s in searches):
    sys.exit(f"FAIL: big vocabulary token-table search: {searches}")
print("big vocabulary: search found", [s["probe"] + " -> " + s["got"][1] for s in searches])
EOF2

[ $status -eq 0 ] && echo "browser report test: ok"
exit $status
