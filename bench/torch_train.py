#!/usr/bin/python3
"""The induction-2l training step in PyTorch, for `bench/train_vs_torch.sh`.

Same model as `circuits train` (attention-only, standard positions, no LayerNorm, causal, biases
on Q/K/V/O and the unembedding, init N(0, 0.8/sqrt(d_model))), same batch (BOS + max_len tokens of
the induction task), same loss (mean next-token cross-entropy over every position but the last),
same optimiser (AdamW with decoupled weight decay on weight matrices only, global-norm clipping,
linear warm-up then cosine decay). Batches are drawn before the clock starts; the timed loop is
forward, backward, clipping and the optimiser step. Prints one line: steps/s.
"""
import argparse
import math
import time

import numpy as np
import torch


class AttnOnly(torch.nn.Module):
    def __init__(self, layers, heads, d_model, d_head, d_vocab, n_ctx):
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
        self.W_U, self.b_U = p(d_model, d_vocab), z(d_vocab)
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
        return x @ self.W_U + self.b_U  # [B, T, d_vocab]


def induction_batch(rng, batch, max_len, n_tokens):
    """BOS (index 0) + max_len tokens in 1..n_tokens with one repeated segment, as lib/train/induction_task."""
    out = np.zeros((batch, max_len + 1), dtype=np.int64)
    for b in range(batch):
        body = rng.integers(1, n_tokens + 1, size=max_len)
        n = rng.integers(2, max_len // 2 + 1)
        gap = rng.integers(0, max_len - 2 * n + 1)
        start = rng.integers(0, max_len - 2 * n - gap + 1)
        body[start + n + gap:start + 2 * n + gap] = body[start:start + n]
        out[b, 1:] = body
    return torch.from_numpy(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--d-model", type=int, default=32)
    ap.add_argument("--d-head", type=int, default=16)
    ap.add_argument("--max-len", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=8)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    d_vocab = args.tokens + 1
    model = AttnOnly(args.layers, args.heads, args.d_model, args.d_head, d_vocab, args.max_len + 1)
    decay = [p for n, p in model.named_parameters() if n.split(".")[0].startswith("W_")]
    no_decay = [p for n, p in model.named_parameters() if not n.split(".")[0].startswith("W_")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    warmup = min(100, args.steps // 10)
    def schedule(step):  # step counts from 0 here; circuits' step s is s = step + 1
        s = step + 1
        if warmup > 0 and s <= warmup:
            return s / warmup
        u = min(1.0, (s - warmup) / max(1, args.steps - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * u))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    batches = [induction_batch(rng, args.batch, args.max_len, args.tokens) for _ in range(args.steps)]

    def step(tokens):
        logits = model(tokens)[:, :-1]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, d_vocab), tokens[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        return loss

    for tokens in batches[:10]:  # warm-up of the allocator and kernels, not timed
        step(tokens)
    start = time.perf_counter()
    for tokens in batches:
        loss = step(tokens)
    secs = time.perf_counter() - start
    print(f"torch {torch.__version__} threads {torch.get_num_threads()}: {args.steps} steps in {secs:.2f} s, "
          f"{args.steps / secs:.1f} steps/s, final loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
