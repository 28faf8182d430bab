#!/usr/bin/python3
"""Benchmark of `circuits analyze` on a model with the shapes of TransformerLens's attn-only-4l.

In one run: builds circuits (Release, -march=native unless --no-native) and a GEMM probe with the same
flags, writes the random model (fixed seed), runs `circuits analyze --timings` under /usr/bin/time -v
(per-pass wall and CPU seconds, peak resident memory), measures the machine's single-precision GEMM rate
(Eigen, bench/gemm_rate.cpp; and torch.matmul in the peer's environment), runs the PyTorch peer
(bench/peer_torch.py) and prints the figures with the targets:
  peak memory < 2 GiB; full-vocabulary passes >= 50% of the GEMM rate; analysis faster than the peer.
Rates are compared per CPU second (GFLOP per CPU-second of one core), which other load on the machine
does not distort; wall-clock figures are printed beside them.

Usage: /usr/bin/python3 bench/analyze_bench.py [--threads N] [--no-native] [--blas-dir DIR] [--skip-peer]
  --blas-dir DIR: a folder holding a libblas.so.3 for torch (e.g. OpenBLAS's openblas-pthread folder);
                  Debian's torch otherwise uses whatever libblas.so.3 the system selects.
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=str(ROOT / "build-bench"))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-native", action="store_true")
    ap.add_argument("--blas-dir", default="")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--max-order", type=int, default=2)
    ap.add_argument("--peer-circuits-rows", type=int, default=4096,
                    help="rows of each head's circuits the peer computes; its time is scaled up (0 = all)")
    args = ap.parse_args()
    build = Path(args.build_dir)
    build.mkdir(parents=True, exist_ok=True)
    native = not args.no_native
    print(f"# circuits analyze benchmark ({time.strftime('%Y-%m-%d %H:%M')})")
    print(f"machine: {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.1f}; threads {args.threads}")

    # Build circuits and the GEMM probe with the same flags.
    run(["cmake", "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
         f"-DCIRCUITS_NATIVE={'ON' if native else 'OFF'}"], log=build / "cmake.log")
    run(["cmake", "--build", str(build), "--target", "circuits", "-j", "2"], log=build / "build.log")
    circuits = build / "cli" / "circuits"
    flags = ["-O3", "-DNDEBUG"] + (["-march=native"] if native else [])
    gemm = build / "gemm_rate"
    run(["g++", *flags, "-std=c++20", "-pthread", "-I/usr/include/eigen3", str(ROOT / "bench" / "gemm_rate.cpp"),
         "-o", str(gemm)])
    print(f"build: Release, flags {' '.join(flags)} (CIRCUITS_NATIVE={'ON' if native else 'OFF'})")

    model = build / "attn-only-4l-random.h5"
    if not model.exists():
        run(["/usr/bin/python3", str(ROOT / "bench" / "make_model.py"), str(model), "--seed", "0"])
    print(f"model: {model.name}: L={L} H={H} d_model={D} d_head={DH} d_vocab={V} n_ctx={N_CTX}, LN, shortformer, "
          f"random (seed 0), {model.stat().st_size / 2**20:.0f} MiB")

    # GEMM rate (Eigen, same flags).
    rates = [json.loads(line) for line in run([str(gemm), str(args.threads)]).stdout.splitlines()]
    gemm_cpu = max(r["gflops_per_cpu_second"] for r in rates)
    print("\n## GEMM rate (Eigen, float32)")
    for r in rates:
        print(f"  {r['shape']:>14}: {r['gflops_per_cpu_second']:7.1f} GFLOP per CPU-second; wall: "
              f"{r['gflops_1_thread_wall']:6.1f} GFLOP/s on 1 thread, {r['gflops_all_threads_wall']:6.1f} on "
              f"{r['threads']}")

    # The analysis.
    results = build / "bench.results.h5"
    cmd = [str(circuits), "analyze", str(model), "-o", str(results), "--timings", "--threads", str(args.threads),
           "--max-order", str(args.max_order)]
    r = run(["/usr/bin/time", "-v", *cmd])
    steps = {}
    for m in re.finditer(r"timing: (\S+) ([\d.]+) s wall, ([\d.]+) s cpu", r.stderr):
        steps[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    peak_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    flops = flops_model(args.max_order)
    print(f"\n## circuits analyze\ncommand: /usr/bin/time -v {' '.join(cmd)}")
    print(f"  {'step':<24} {'wall s':>8} {'cpu s':>8}  {'GFLOP':>7} {'GFLOP/cpu-s':>12} {'of GEMM':>8}")
    for name, (wall, cpu) in steps.items():
        line = f"  {name:<24} {wall:8.2f} {cpu:8.2f}"
        if name in flops and cpu > 0:
            rate = flops[name] / cpu / 1e9
            line += f"  {flops[name] / 1e9:7.1f} {rate:12.1f} {100 * rate / gemm_cpu:7.0f}%"
        print(line)
    print(f"  peak resident memory: {peak_kib / 2**20:.2f} GiB")

    peer = None
    if not args.skip_peer:
        env = dict(os.environ)
        if args.blas_dir:
            env["LD_LIBRARY_PATH"] = args.blas_dir + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
        probe = ("import time, torch; torch.set_num_threads(%d); a = torch.randn(512, %d); b = torch.randn(%d, 512); a @ b; "
                 "t = time.perf_counter(); c = time.process_time(); [a @ b for _ in range(3)]; "
                 "w = time.perf_counter() - t; p = time.process_time() - c; f = 3 * 2.0 * 512 * %d * 512; "
                 "print(f / w / 1e9, f / p / 1e9)" % (args.threads, V, V, V))
        tw, tc = map(float, run(["/usr/bin/python3", "-c", probe], env=env).stdout.split())
        print(f"\n## peer: PyTorch ({'LD_LIBRARY_PATH=' + args.blas_dir if args.blas_dir else 'system libblas.so.3'})")
        print(f"  torch.matmul 512x{V}x512: {tc:.1f} GFLOP per CPU-second, {tw:.1f} GFLOP/s wall on {args.threads} threads")
        t0 = time.perf_counter()
        print(f"  (peer progress: {build / 'peer.log'})", flush=True)
        with open(build / "peer.log", "w") as log:  # streamed: progress is visible while the peer runs
            pr = subprocess.run(["/usr/bin/time", "-v", "/usr/bin/python3", str(ROOT / "bench" / "peer_torch.py"),
                                 str(model), "--threads", str(args.threads), "--max-order", str(args.max_order),
                                 "--circuits-rows", str(args.peer_circuits_rows)],
                                env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        pr.stderr = (build / "peer.log").read_text()
        if pr.returncode != 0:
            sys.exit(f"bench: the peer failed ({pr.returncode}):\n{pr.stderr[-3000:]}")
        peer = json.loads(pr.stdout.strip().splitlines()[-1])
        peer_wall = time.perf_counter() - t0
        peer_peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", pr.stderr).group(1))
        user = float(re.search(r"User time \(seconds\): ([\d.]+)", pr.stderr).group(1))
        system = float(re.search(r"System time \(seconds\): ([\d.]+)", pr.stderr).group(1))
        circ = peer["results"]["circuits"]
        for name, secs in peer["timings"].items():
            note = (f"  (extrapolated from {circ['rows_computed']} of {V} rows per circuit)"
                    if circ["extrapolated"] and name in ("circuits_ov", "circuits_qk", "circuits", "total") else "")
            print(f"  {name:<36} {secs:8.2f} s wall{note}")
        print(f"  process: {peer_wall:.1f} s wall, {user + system:.1f} s cpu, peak {peer_peak / 2**20:.2f} GiB, "
              f"{peer['results']['path']['svds']} factor SVDs")

    print("\n## targets")
    total_wall, total_cpu = steps.get("total", (0, 0))
    print(f"  peak memory < 2 GiB: {peak_kib / 2**20:.2f} GiB -> {'met' if peak_kib < 2 * 2**20 else 'MISSED'}")
    for name in ("bigram", "circuits", "embedding_grams", "induction", "path_expansion.ablation"):
        if name in steps and steps[name][1] > 0:
            share = flops[name] / steps[name][1] / 1e9 / gemm_cpu
            print(f"  {name} at >= 50% of the GEMM rate (per CPU-second): {100 * share:.0f}% -> "
                  f"{'met' if share >= 0.5 else 'MISSED'}")
    if peer:
        peer_total = peer["timings"]["total"]
        how = ("its steps' sum, circuits extrapolated" if peer["results"]["circuits"]["extrapolated"]
               else "its steps' sum")
        print(f"  faster than the peer: circuits {total_wall:.1f} s wall, peer {peer_total:.1f} s wall ({how}) -> "
              f"{'met' if total_wall < peer_total else 'MISSED'} ({peer_total / total_wall:.1f}x)")
        for a, b in (("bigram", "bigram"), ("circuits", "circuits"), ("eigen", "eigen"), ("composition", "composition"),
                     ("path_expansion", "path_expansion"), ("induction", "induction")):
            if a in steps and b in peer["timings"]:
                print(f"    {a:<16} circuits {steps[a][0]:8.2f} s   peer {peer['timings'][b]:8.2f} s")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
