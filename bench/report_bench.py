#!/usr/bin/python3
"""Report at full vocabulary: page weights and load times of a d_vocab 48262 model's report.

Writes a random model with d_vocab 48262 (2 layers x 2 heads, d_model 64, d_head 16, n_ctx 1024,
token strings like GPT-2's), analyses it (circuits, eigen, composition, induction), writes its report
and measures, in one run:
  - ours: the head page as written (the 40 strongest rows of each token table, the rest searchable
    from heads/data/*.js and vocab.js, loaded on the first search), its bytes, the time until the
    page's script is ready (performance.now() at the end of DOMContentLoaded, in headless Chromium),
    and the time of one token search (data files loaded and decoded);
  - the viewer at n_ctx 1024 (a second report with a 1024-token --tokens input): page bytes, time
    until ready and the time of one hover (1024 tokens shaded, the 1024 x 1024 canvas redrawn);
  - the peer: the same page with every row in the HTML (`circuits report --rows 48262`, what a page
    without search must do to show every token), its bytes and time until ready.
Usage: /usr/bin/python3 bench/report_bench.py CIRCUITS_BINARY [--work DIR]
"""
import argparse
import html
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

V = 48262


def make_model(path):
    L, H, D, dh, n_ctx = 2, 2, 64, 16, 1024
    rng = np.random.default_rng(0)
    normal = lambda shape, std: (rng.standard_normal(shape, dtype=np.float32) * std).astype(np.float32)
    vocab = ["<|endoftext|>"] + [("Ġ" if i % 3 else "") + "tok" + str(i) for i in range(1, V)]
    with h5py.File(path, "w") as f:
        for k, v in dict(format="circuits-model", format_version=1, n_layers=L, n_heads=H, d_model=D, d_head=dh,
                         d_vocab=V, d_vocab_out=V, n_ctx=n_ctx, d_mlp=0, positional_embedding_type="standard",
                         normalization_type="none", causal=1, origin="imported", bos_token=0).items():
            f.attrs[k] = v
        f["embed/W_E"] = normal((V, D), 1.0)
        f["pos_embed/W_pos"] = normal((n_ctx, D), 0.1)
        for l in range(L):
            for name in ("W_Q", "W_K", "W_V"):
                f[f"blocks/{l}/attn/{name}"] = normal((H, D, dh), D ** -0.5)
            f[f"blocks/{l}/attn/W_O"] = normal((H, dh, D), dh ** -0.5)
        f["unembed/W_U"] = normal((D, V), D ** -0.5)
        f.create_dataset("vocab", data=vocab, dtype=h5py.string_dtype("utf-8"))


def cpu_run(args):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.time()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.time() - wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def selftest(page, work, limit):
    """The page's #selftest output, or None when Chromium does not finish within `limit` seconds."""
    profile = tempfile.mkdtemp(dir=work)
    try:
        dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + profile,
                              "--virtual-time-budget=20000", "--dump-dom", "file://" + page + "#selftest"],
                             check=True, capture_output=True, text=True, timeout=limit).stdout
    except subprocess.TimeoutExpired:
        return None
    m = re.search(r'<pre id="selftest">(.*?)</pre>', dom, re.S)
    if not m:
        sys.exit(f"no self-test output from {page}")
    return json.loads(html.unescape(m.group(1)))


def size(path):
    return os.path.getsize(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("circuits")
    ap.add_argument("--work", default=None)
    ap.add_argument("--reuse", action="store_true", help="keep the model and results already in --work")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="report_bench.")
    model, results = os.path.join(work, "model.h5"), os.path.join(work, "results.h5")
    if not (a.reuse and os.path.exists(results)):
        make_model(model)
        subprocess.run([a.circuits, "analyze", model, "-o", results, "--passes", "circuits,eigen,composition,induction",
                        "--top-k", "10"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ours, peer = os.path.join(work, "ours"), os.path.join(work, "peer")
    # A 1024-token input for the viewer (BOS + 1023 random tokens): a repeated block, n_ctx 1024.
    rng = np.random.default_rng(1)
    vocab = h5py.File(model)["vocab"].asstr()[()]
    block = [vocab[i] for i in rng.integers(1, V, 341)]
    tokens = os.path.join(work, "long.txt")
    with open(tokens, "w") as f:
        f.write(" ".join(block * 3) + "\n")
    wall_o, cpu_o = cpu_run([a.circuits, "report", results, "-o", ours])
    long_dir = os.path.join(work, "ours-1024")
    subprocess.run([a.circuits, "report", results, "-o", long_dir, "--tokens", tokens], check=True,
                   stdout=subprocess.DEVNULL)
    wall_p, cpu_p = cpu_run([a.circuits, "report", results, "-o", peer, "--rows", str(V)])
    page_o, page_p = os.path.join(ours, "heads", "L1H0.html"), os.path.join(peer, "heads", "L1H0.html")
    data = [os.path.join(ours, "heads", "data", f) for f in ("L1H0-ov.js", "L1H0-qk.js")]
    limit = 120
    t_o, t_p = selftest(page_o, work, limit), selftest(page_p, work, limit)
    if t_o is None:
        sys.exit(f"our head page did not load within {limit} s")
    peer_ready = f"{t_p['ready_ms']:.0f}" if t_p else f"> {limit * 1000} (not loaded)"
    folder = lambda d: sum(size(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)
    searches = t_o.get("searches", [])
    print(f"d_vocab {V}, 2 layers x 2 heads, top-k 10; head page L1H0")
    print(f"{'':34} {'ours':>14} {'peer (--rows all)':>18}")
    print(f"{'head page HTML bytes':34} {size(page_o):>14,} {size(page_p):>18,}")
    print(f"{'time to script ready, ms':34} {t_o['ready_ms']:>14.0f} {peer_ready:>18}")
    print(f"{'search data (2 tables) bytes':34} {sum(map(size, data)):>14,} {'-':>18}")
    print(f"{'vocab.js bytes (shared)':34} {size(os.path.join(ours, 'vocab.js')):>14,} {'-':>18}")
    for s in searches:
        print(f"{'first search ' + s['table'] + ', ms':34} {s['ms']:>14.0f} {'-':>18}  (found: {s['ok']})")
    print(f"{'report folder bytes':34} {folder(ours):>14,} {folder(peer):>18,}")
    print(f"{'circuits report wall s / CPU s':34} {wall_o:>7.2f}/{cpu_o:<6.2f} {wall_p:>11.2f}/{cpu_p:<6.2f}")
    print("with a 1024-token --tokens input beside the probe (report ours-1024):")
    layer = selftest(os.path.join(long_dir, "layers", "L1.html"), work, limit)
    print(f"{'head page bytes':34} {size(os.path.join(long_dir, 'heads', 'L1H0.html')):>14,}")
    print(f"{'layer page bytes (viewer, 2 heads)':34} {size(os.path.join(long_dir, 'layers', 'L1.html')):>14,}")
    print(f"{'layer page: time to script ready, ms':34} {layer['ready_ms']:>14.0f}")
    for v in layer["viewers"]:
        if len(v["tokens"]) == 1024:
            print(f"{'hover at n_ctx 1024, ' + v['head'] + ', ms':34} {v['ms_per_query']:>14.1f}   "
                  f"(per hover or focus: {len(v['tokens'])} tokens shaded, 1024x1024 canvas redrawn)")


main()
