#!/usr/bin/python3
"""Benchmark of `circuits analyze` on models with the shapes of TransformerLens's attn-only-4l.

In one run: builds circuits (Release; the default native build, or --portable) and a GEMM probe and the
engine probe (bench/topk_bench.cpp) with the same flags; writes two models (bench/make_model.py, seed 0):
random Gaussian weights (flat circuit spectra) and decaying head spectra (realistic); runs
`circuits analyze --timings` on each under /usr/bin/time -v (per-pass wall and CPU seconds, peak resident
memory, the share of circuit entries the top-k engine computed exactly); times head circuits with the
previous tiled path and the engine (topk_bench, same process); measures the GEMM rate (Eigen, and
torch.matmul in the peer's environment); runs the PyTorch peer (bench/peer_torch.py, with OpenBLAS:
installed with apt-get when missing) on the random model, its circuits step whole for --peer-circuits-layers
layers; and prints every figure with the targets. Rates are per CPU second, which other load on the
machine distorts least; wall-clock figures are printed beside them.

Usage: /usr/bin/python3 bench/analyze_bench.py [--threads N] [--portable] [--skip-peer]
       [--peer-circuits-layers N] [--peer-circuits-rows R] [--blas-dir DIR] [--models random,decaying]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
L, H, D, DH, V, N_CTX = 4, 8, 512, 64, 48262, 1024
PROBE_N, PROBE_R, PROBE_S = 25, 4, 10


def run(cmd, env=None, log=None, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if log:
        Path(log).write_text(r.stdout + r.stderr)
    if check and r.returncode != 0:
        sys.exit(f"bench: {' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return r


def flops_model(max_order):
    """GEMM-equivalent flops of the full-vocabulary work of each step (a SYRK counts half a GEMM)."""
    T = 1 + PROBE_N * PROBE_R
    positions = PROBE_S * PROBE_N * (PROBE_R - 1)
    logits = 2.0 * T * D * V  # one forward pass's unembedding
    return {
        # W_E W_U streamed in row blocks, each reduced to its top-k
        "bigram": 2.0 * V * D * V,
        # per head: the OV circuit (W_E W_V)(W_O W_U) and the QK circuit (W_E W_Q)(W_E W_K)^T, each
        # V x V with inner dimension d_head, streamed in blocks; the V x d_head factors are negligible
        "circuits": L * H * 2 * (2.0 * V * DH * V),
        # G_E = W_E^T W_E and G_U = W_U W_U^T (SYRK), C = W_U W_E (GEMM)
        "embedding_grams": V * D * D + V * D * D + 2.0 * V * D * D,
        # probe forward passes + copying evaluator: per head W_O' W_U [d_head, V] and Z F [positions, V]
        "induction": PROBE_S * logits + L * H * (2.0 * DH * D * V + 2.0 * positions * DH * V),
        # the pass's full-vocabulary part, its ablation: real run + runs 0..K per probe sequence (the
        # terms before it work on d_model- and d_head-sized Gram matrices only)
        "path_expansion.ablation": (max_order + 2) * PROBE_S * logits,
    }


def build_all(args, build):
    """Builds circuits, the GEMM probe and the engine probe with the same flags; returns the flags' name."""
    native = not args.portable
    run(["cmake", "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
         f"-DCIRCUITS_PORTABLE={'OFF' if native else 'ON'}", "-DCIRCUITS_NATIVE=ON"], log=build / "cmake.log")
    flavour = re.search(r"circuits: (\w+) build", (build / "cmake.log").read_text())
    run(["cmake", "--build", str(build), "--target", "circuits", "-j", "2"], log=build / "build.log")
    flags = ["-O3", "-DNDEBUG"] + (["-march=native"] if native else [])
    run(["g++", *flags, "-std=c++20", "-pthread", "-I/usr/include/eigen3", str(ROOT / "bench" / "gemm_rate.cpp"),
         "-o", str(build / "gemm_rate")])
    h5 = ["-I/usr/include/hdf5/serial", "-L/usr/lib/x86_64-linux-gnu/hdf5/serial"]
    run(["g++", *flags, "-std=c++20", "-pthread", "-I" + str(ROOT), "-I/usr/include/eigen3", *h5,
         str(ROOT / "bench" / "topk_bench.cpp"), str(build / "lib" / "libcircuits_core.a"),
         "-lhdf5_cpp", "-lhdf5", "-o", str(build / "topk_bench")])
    return (flavour.group(1) if flavour else "?"), flags


def make_models(build, kinds):
    models = {}
    for kind in kinds:
        model = build / f"attn-only-4l-{kind}.h5"
        if not model.exists():
            run(["/usr/bin/python3", str(ROOT / "bench" / "make_model.py"), str(model), "--seed", "0",
                 "--spectrum", kind])
        models[kind] = model
        print(f"model: {model.name}: L={L} H={H} d_model={D} d_head={DH} d_vocab={V} n_ctx={N_CTX}, LN, "
              f"shortformer, {kind} head spectra (seed 0), {model.stat().st_size / 2**20:.0f} MiB")
    return models


def gemm_rate(build, threads):
    rates = [json.loads(line) for line in run([str(build / "gemm_rate"), str(threads)]).stdout.splitlines()]
    print("\n## GEMM rate (Eigen, float32)")
    for r in rates:
        print(f"  {r['shape']:>14}: {r['gflops_per_cpu_second']:7.1f} GFLOP per CPU-second; wall: "
              f"{r['gflops_1_thread_wall']:6.1f} GFLOP/s on 1 thread, {r['gflops_all_threads_wall']:6.1f} on "
              f"{r['threads']}")
    return max(r["gflops_per_cpu_second"] for r in rates)


def analyze(build, model, args, gemm_cpu):
    """circuits analyze under /usr/bin/time -v: per-step (wall, cpu), peak KiB, exact share."""
    results = build / f"bench.{model.stem}.results.h5"
    cmd = [str(build / "cli" / "circuits"), "analyze", str(model), "-o", str(results), "--timings",
           "--threads", str(args.threads), "--max-order", str(args.max_order)]
    r = run(["/usr/bin/time", "-v", *cmd])
    steps = {}
    for m in re.finditer(r"timing: (\S+) ([\d.]+) s wall, ([\d.]+) s cpu", r.stderr):
        steps[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    peak_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    share = run(["/usr/bin/python3", "-c", "import h5py, sys; a = h5py.File(sys.argv[1], 'r')['circuits'].attrs; "
                 "print(float(a['exact_share']), int(a['bounded_circuits']))", str(results)]).stdout.split()
    flops = flops_model(args.max_order)
    print(f"\n## circuits analyze, {model.name}\ncommand: /usr/bin/time -v {' '.join(cmd)}")
    print(f"  {'step':<24} {'wall s':>8} {'cpu s':>8}  {'GFLOP':>7} {'GFLOP/cpu-s':>12} {'of GEMM':>8}")
    for name, (wall, cpu) in steps.items():
        line = f"  {name:<24} {wall:8.2f} {cpu:8.2f}"
        if name in flops and cpu > 0:
            rate = flops[name] / cpu / 1e9
            line += f"  {flops[name] / 1e9:7.1f} {rate:12.1f} {100 * rate / gemm_cpu:7.0f}%"
        print(line)
    print(f"  (GFLOP: the dense products' count; the circuits pass computes {100 * float(share[0]):.1f}% of its "
          f"entries exactly, {share[1]} of {2 * L * H} circuits on the bounded path)")
    print(f"  peak resident memory: {peak_kib / 2**20:.2f} GiB")
    return steps, peak_kib, float(share[0])


def engine_probe(build, model, args):
    """The previous tiled path against the engine on a few head circuits, in one process."""
    out = run([str(build / "topk_bench"), str(model), str(args.probe_heads), str(args.threads)]).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    print(f"\n## engine probe, {model.name}: previous tiled path vs the top-k engine (CPU seconds, same process)")
    for r in rows:
        print(f"  {r['circuit']} L{r['layer']}H{r['head']}: previous {r['cpu_previous']:7.2f}  engine dense "
              f"{r['cpu_engine_dense']:7.2f}  engine auto {r['cpu_engine_auto']:7.2f} "
              f"({'bounded r=' + str(r['approx_rank']) if r['auto_bounded'] else 'dense'}, exact "
              f"{100 * r['exact_share']:.1f}%)  auto == dense bit for bit: {r['auto_equals_dense']}; "
              f"top-1 agreement with previous {100 * r['top1_agreement_with_previous']:.2f}%")
    prev = sum(r["cpu_previous"] for r in rows)
    auto = sum(r["cpu_engine_auto"] for r in rows)
    return prev / auto if auto > 0 else 0.0, all(r["auto_equals_dense"] for r in rows)


def ensure_openblas():
    """Debian's torch calls the system libblas.so.3: the reference BLAS unless OpenBLAS is installed."""
    if Path("/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3").exists():
        return "already installed"
    r = run(["apt-get", "install", "-y", "libopenblas0-pthread"], check=False)
    if r.returncode != 0:
        run(["apt-get", "update"], check=False)
        r = run(["apt-get", "install", "-y", "libopenblas0-pthread"], check=False)
    return "installed now" if r.returncode == 0 else f"install failed ({r.returncode})"


def peer_run(build, model, args):
    blas = ensure_openblas()
    env = dict(os.environ)
    if args.blas_dir:
        env["LD_LIBRARY_PATH"] = args.blas_dir + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    probe = ("import time, torch; torch.set_num_threads(%d); a = torch.randn(512, %d); b = torch.randn(%d, 512); a @ b; "
             "t = time.perf_counter(); c = time.process_time(); [a @ b for _ in range(3)]; "
             "w = time.perf_counter() - t; p = time.process_time() - c; f = 3 * 2.0 * 512 * %d * 512; "
             "print(f / w / 1e9, f / p / 1e9)" % (args.threads, V, V, V))
    tw, tc = map(float, run(["/usr/bin/python3", "-c", probe], env=env).stdout.split())
    print(f"\n## peer: PyTorch on {model.name} (OpenBLAS {blas}"
          f"{'; LD_LIBRARY_PATH=' + args.blas_dir if args.blas_dir else ''})")
    print(f"  torch.matmul 512x{V}x512: {tc:.1f} GFLOP per CPU-second, {tw:.1f} GFLOP/s wall on {args.threads} threads")
    print(f"  (peer progress: {build / 'peer.log'})", flush=True)
    t0 = time.perf_counter()
    with open(build / "peer.log", "w") as log:  # streamed: progress is visible while the peer runs
        pr = subprocess.run(["/usr/bin/time", "-v", "/usr/bin/python3", str(ROOT / "bench" / "peer_torch.py"),
                             str(model), "--threads", str(args.threads), "--max-order", str(args.max_order),
                             "--circuits-rows", str(args.peer_circuits_rows),
                             "--circuits-layers", str(args.peer_circuits_layers)],
                            env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    err = (build / "peer.log").read_text()
    if pr.returncode != 0:
        sys.exit(f"bench: the peer failed ({pr.returncode}):\n{err[-3000:]}")
    peer = json.loads(pr.stdout.strip().splitlines()[-1])
    peer_wall = time.perf_counter() - t0
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1))
    cpu = sum(float(re.search(rf"{k} time \(seconds\): ([\d.]+)", err).group(1)) for k in ("User", "System"))
    circ = peer["results"]["circuits"]
    how = (f"extrapolated from {circ['rows_computed']} of {V} rows and {circ['layers_computed']} of {L} layers, "
           f"each computed whole" if circ["extrapolated"] else "")
    for name, secs in peer["timings"].items():
        note = f"  ({how})" if how and name in ("circuits_ov", "circuits_qk", "circuits", "total") else ""
        print(f"  {name:<36} {secs:8.2f} s wall{note}")
    print(f"  process: {peer_wall:.1f} s wall, {cpu:.1f} s cpu, peak {peak / 2**20:.2f} GiB")
    return peer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=str(ROOT / "build-bench"))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--portable", action="store_true", help="measure the portable build (CIRCUITS_PORTABLE=ON)")
    ap.add_argument("--models", default="random,decaying")
    ap.add_argument("--blas-dir", default="")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--max-order", type=int, default=2)
    ap.add_argument("--probe-heads", type=int, default=1, help="heads per probed layer (layers 0 and L-1)")
    ap.add_argument("--peer-circuits-rows", type=int, default=0,
                    help="rows of each head's circuits the peer computes; its time is scaled up (0 = all)")
    ap.add_argument("--peer-circuits-layers", type=int, default=1,
                    help="layers whose circuits the peer computes whole; its time is scaled up (0 = all)")
    args = ap.parse_args()
    build = Path(args.build_dir)
    build.mkdir(parents=True, exist_ok=True)
    print(f"# circuits analyze benchmark ({time.strftime('%Y-%m-%d %H:%M')})")
    print(f"machine: {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.1f}; threads {args.threads}")
    flavour, flags = build_all(args, build)
    print(f"build: Release, {flavour} (flags {' '.join(flags)}; CIRCUITS_PORTABLE={'ON' if args.portable else 'OFF'})")
    models = make_models(build, args.models.split(","))
    gemm_cpu = gemm_rate(build, args.threads)
    runs, probes = {}, {}
    for kind, model in models.items():
        runs[kind] = analyze(build, model, args, gemm_cpu)
        probes[kind] = engine_probe(build, model, args)
    peer = None if args.skip_peer or "random" not in models else peer_run(build, models["random"], args)
    report_targets(runs, probes, peer)
    print(f"load average at end {os.getloadavg()[0]:.1f}")


def report_targets(runs, probes, peer):
    print("\n## targets")
    for kind, (steps, peak_kib, share) in runs.items():
        print(f"  {kind}: peak memory <= 1 GiB: {peak_kib / 2**20:.2f} GiB -> "
              f"{'met' if peak_kib <= 2**20 else 'MISSED'}")
    for kind, want in (("decaying", 3.0), ("random", 1.0)):
        if kind in probes:
            ratio, exact = probes[kind]
            print(f"  {kind}: engine >= {want:.0f}x the previous path on the probed circuits (CPU s): {ratio:.2f}x -> "
                  f"{'met' if ratio >= want else 'MISSED'}; bounded == dense bit for bit: {exact}")
    if peer and "random" in runs:
        steps = runs["random"][0]
        total_wall = steps.get("total", (0, 0))[0]
        peer_total = peer["timings"]["total"]
        how = "circuits extrapolated" if peer["results"]["circuits"]["extrapolated"] else "run whole"
        print(f"  analyze >= 5x faster than the peer (random model, equal threads): circuits {total_wall:.1f} s wall, "
              f"peer {peer_total:.1f} s wall ({how}) -> {'met' if peer_total >= 5 * total_wall else 'MISSED'} "
              f"({peer_total / total_wall:.1f}x)")
        for a in ("bigram", "circuits", "eigen", "composition", "path_expansion", "induction"):
            if a in steps and a in peer["timings"]:
                print(f"    {a:<16} circuits {steps[a][0]:8.2f} s   peer {peer['timings'][a]:8.2f} s")


if __name__ == "__main__":
    main()
