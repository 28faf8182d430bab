#!/usr/bin/python3
"""Training steps per second of induction-2l's configuration: `circuits train` against PyTorch.

One run measures both: first `circuits train induction` with the configuration of
data/models/trained/induction-2l.h5 (data/README.md, "Trained models"), then the same model, batch,
loss and optimiser written here in PyTorch (Debian's python3-torch):
  - model: attention-only, standard positions, no LayerNorm, causal, biases on Q/K/V/O and the
    unembedding, init N(0, (0.8/sqrt(d_model))^2) weights and zero biases; vocab BOS + a b c d,
    vocab_out a b c d (BOS is never predicted), n_ctx = max_len + 1;
  - batch: the induction task of lib/train/induction_task.cpp (BOS + max_len uniform tokens, one
    segment copied at a uniform distance), mean next-token cross-entropy over every position but the
    last;
  - optimiser: AdamW (betas 0.9/0.999, eps 1e-8) with decoupled weight decay on weight matrices only,
    global-norm clipping at 1, linear warm-up over min(100, steps/10) steps then cosine decay to 0.1.
Both sides run on the same number of threads (--threads, default 1). The circuits figure is its whole
training loop as it reports it (batch sampling and the two probe measurements included, no
checkpoints); the PyTorch figure is forward, backward, clipping and the optimiser step on batches
drawn before the clock starts, after 10 untimed warm-up steps.

    /usr/bin/python3 bench/train_bench.py                     # build/cli/circuits, 500 steps, 1 thread
    /usr/bin/python3 bench/train_bench.py --circuits BIN --steps 1000 --threads 2
"""
import argparse
import math
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# induction-2l (data/README.md): the model and optimiser options of its `circuits train` command.
INDUCTION_2L = {"layers": 2, "heads": 2, "d_model": 32, "d_head": 16, "batch": 128, "lr": 1e-2, "weight_decay": 0.1}
VOCAB = ["a", "b", "c", "d"]  # the compiled induction program's vocabulary (BOS first in the model)
MAX_LEN = 8


class AttnOnly(torch.nn.Module):
    def __init__(self, layers, heads, d_model, d_head, d_vocab, d_vocab_out, n_ctx):
        super().__init__()
        std = 0.8 / math.sqrt(d_model)
        p = lambda *shape: torch.nn.Parameter(torch.randn(*shape) * std)
        z = lambda *shape: torch.nn.Parameter(torch.zeros(*shape))
        self.W_E, self.W_pos = p(d_vocab, d_model), p(n_ctx, d_model)
        self.W_Q = torch.nn.ParameterList([p(heads, d_model, d_head) for _ in range(layers)])
        self.W_K = torch.nn.ParameterList([p(heads, d_model, d_head) for _ in range(layers)])
        self.W_V = torch.nn.ParameterList([p(heads, d_model, d_head) for _ in range(layers)])
        self.W_O = torch.nn.ParameterList([p(heads, d_head, d_model) for _ in range(layers)])
        self.b_Q = torch.nn.ParameterList([z(heads, d_head) for _ in range(layers)])
        self.b_K = torch.nn.ParameterList([z(heads, d_head) for _ in range(layers)])
        self.b_V = torch.nn.ParameterList([z(heads, d_head) for _ in range(layers)])
        self.b_O = torch.nn.ParameterList([z(d_model) for _ in range(layers)])
        self.W_U, self.b_U = p(d_model, d_vocab_out), z(d_vocab_out)
        self.layers, self.d_head = layers, d_head
        self.register_buffer("mask", torch.triu(torch.ones(n_ctx, n_ctx, dtype=torch.bool), 1))

    def forward(self, tokens):  # tokens [B, T]
        T = tokens.shape[1]
        x = self.W_E[tokens] + self.W_pos[:T]  # [B, T, d_model]
        for l in range(self.layers):
            q = torch.einsum("btd,hde->bhte", x, self.W_Q[l]) + self.b_Q[l][:, None, :]  # [B, H, T, d_head]
            k = torch.einsum("btd,hde->bhte", x, self.W_K[l]) + self.b_K[l][:, None, :]
            v = torch.einsum("btd,hde->bhte", x, self.W_V[l]) + self.b_V[l][:, None, :]
            s = (q @ k.transpose(-1, -2)) / math.sqrt(self.d_head)  # [B, H, T, T]
            a = s.masked_fill(self.mask[:T, :T], float("-inf")).softmax(-1)
            z = a @ v  # [B, H, T, d_head]
            x = x + torch.einsum("bhte,hed->btd", z, self.W_O[l]) + self.b_O[l]
        return x @ self.W_U + self.b_U  # [B, T, d_vocab_out]


def induction_batch(rng, batch, max_len, n_tokens):
    """BOS (index 0) + max_len tokens in 1..n_tokens with one copied segment, as lib/train/induction_task.cpp."""
    out = np.zeros((batch, max_len + 1), dtype=np.int64)
    L = max_len
    for b in range(batch):
        body = rng.integers(1, n_tokens + 1, size=L)
        d = rng.integers(2, L - 1)                # [2, L-2]
        n = rng.integers(2, min(d, L - d) + 1)    # [2, min(d, L-d)]
        start = rng.integers(0, L - d - n + 1)    # [0, L-d-n]
        body[start + d:start + d + n] = body[start:start + n]
        out[b, 1:] = body
    return torch.from_numpy(out)


def run_circuits(binary, args):
    c = INDUCTION_2L
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [binary, "train", "induction", "-o", os.path.join(tmp, "bench.h5"), "--layers", str(c["layers"]),
               "--heads", str(c["heads"]), "--d-model", str(c["d_model"]), "--d-head", str(c["d_head"]),
               "--batch", str(c["batch"]), "--lr", str(c["lr"]), "--weight-decay", str(c["weight_decay"]),
               "--steps", str(args.steps), "--log-every", str(args.steps), "--checkpoints", "0",
               "--threads", str(args.threads)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    m = re.search(r"(\d+) steps in ([0-9.]+) s \(([0-9.]+) steps/s, (\d+) threads\), final loss ([0-9.]+)", out)
    if not m:
        sys.exit("unexpected output of circuits train: " + out)
    return float(m.group(3)), float(m.group(2)), float(m.group(5)), " ".join(cmd[1:])


def run_torch(args):
    c = INDUCTION_2L
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    V = len(VOCAB)
    model = AttnOnly(c["layers"], c["heads"], c["d_model"], c["d_head"], V + 1, V, MAX_LEN + 1)
    decay = [p for n, p in model.named_parameters() if n.split(".")[0].startswith("W_")]
    no_decay = [p for n, p in model.named_parameters() if not n.split(".")[0].startswith("W_")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": c["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}], lr=c["lr"], betas=(0.9, 0.999), eps=1e-8)
    warmup = min(100, args.steps // 10)

    def schedule(step):  # LambdaLR counts from 0; circuits' step s is step + 1
        s = step + 1
        if warmup > 0 and s <= warmup:
            return s / warmup
        u = min(1.0, (s - warmup) / max(1, args.steps - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * u))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    batches = [induction_batch(rng, c["batch"], MAX_LEN, V) for _ in range(args.steps + 10)]

    def step(tokens):
        logits = model(tokens)[:, :-1]               # [B, T-1, V]
        targets = tokens[:, 1:] - 1                  # vocab_out index of the next token
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    for tokens in batches[:10]:  # allocator and kernel warm-up, not timed
        step(tokens)
    sched.step()
    start = time.perf_counter()
    for tokens in batches[10:]:
        loss = step(tokens)
        sched.step()
    secs = time.perf_counter() - start
    return args.steps / secs, secs, loss.item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--circuits", default=os.path.join(ROOT, "build", "cli", "circuits"), help="the circuits binary")
    ap.add_argument("--steps", type=int, default=500, help="optimiser steps on each side")
    ap.add_argument("--threads", type=int, default=1, help="threads on each side")
    args = ap.parse_args()
    load = open("/proc/loadavg").read().split()[:3]
    print(f"machine: {os.cpu_count()} cores, load {' '.join(load)}; torch {torch.__version__}")
    print(f"config: induction-2l {INDUCTION_2L}, vocab BOS+{''.join(VOCAB)}, max_len {MAX_LEN}, "
          f"{args.steps} steps, {args.threads} thread(s)")
    rate, secs, loss, cmd = run_circuits(args.circuits, args)
    print(f"circuits: {rate:.1f} steps/s ({args.steps} steps in {secs:.2f} s, final loss {loss:.4f})  [{cmd}]")
    rate_t, secs_t, loss_t = run_torch(args)
    print(f"pytorch:  {rate_t:.1f} steps/s ({args.steps} steps in {secs_t:.2f} s, final loss {loss_t:.4f})")
    print(f"ratio circuits / pytorch: {rate / rate_t:.2f}")


if __name__ == "__main__":
    main()
