"""Checks the attention viewer's in-page self-test (report.js, URL fragment #selftest).

Usage: check_viewer_selftest.py DOM_FILE HEAD=KIND... [--exports N]

DOM_FILE is `chromium --headless --dump-dom PAGE#selftest`; the page's script focused (and hovered)
every token of every input for every head and wrote, per head, the key each query's shading marks
strongest. KIND is the planted behaviour the head must show on every input:
  prev      every query i >= 1 attends most to key i - 1;
  induction every query whose token occurred exactly once before (at p) attends most to key p + 1.
Also checks that hovering shades exactly what focusing does, and that every figure exported as SVG
parses (and has its download button).
"""
import html
import json
import re
import sys


def main():
    dom_path, *specs = sys.argv[1:]
    dom = open(dom_path, encoding="utf-8").read()
    m = re.search(r'<pre id="selftest">(.*?)</pre>', dom, re.S)
    if not m:
        sys.exit(f"FAIL: {dom_path}: no #selftest output in the DOM (script not run?)")
    result = json.loads(html.unescape(m.group(1)))
    wanted = dict(s.split("=") for s in specs)
    seen, failures, checked = set(), [], 0
    for v in result["viewers"]:
        kind = wanted.get(v["head"])
        if not v["hover_matches_focus"]:
            failures.append(f'{v["head"]} on {v["input"]}: hover and focus shade differently')
        if kind is None:
            continue
        seen.add(v["head"])
        toks, strongest = v["tokens"], v["strongest"]
        queries = v.get("queries", list(range(len(strongest))))
        if len(strongest) != len(queries) or len(queries) < min(len(toks), 64):
            failures.append(f'{v["head"]}: {len(strongest)} answers for {len(queries)} of {len(toks)} queries')
        for i, got in zip(queries, strongest):
            if kind == "prev":
                want = i - 1 if i >= 1 else None
            else:
                earlier = [p for p in range(i) if toks[p] == toks[i]]
                want = earlier[0] + 1 if len(earlier) == 1 else None
            if want is None:
                continue
            checked += 1
            if got != want:
                failures.append(f'{v["head"]} on {v["input"]}: query {i} ({toks[i]}) strongest key {got}, want {want}')
    missing = set(wanted) - seen
    if missing:
        failures.append(f"heads not in the viewer: {sorted(missing)}")
    bad_exports = [e["figure"] for e in result["exports"] if not (e["ok"] and e["button"])]
    if bad_exports:
        failures.append(f"figures whose SVG export fails: {bad_exports}")
    if not result["exports"]:
        failures.append("no figure was exported")
    if failures:
        print("\n".join("FAIL: " + f for f in failures[:20]), file=sys.stderr)
        sys.exit(1)
    print(f"{dom_path}: {checked} queries checked on {sorted(seen)}, {len(result['exports'])} SVG exports parse")


main()
