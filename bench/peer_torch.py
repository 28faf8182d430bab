#!/usr/bin/python3
"""The peer of `circuits analyze` in the benchmark: the same computations (induction and path-expansion
passes) written in PyTorch as a researcher would with TransformerLens-style factored matrices.

FactoredMatrix below follows TransformerLens's semantics: A @ B kept factored, norm() from the singular
values of the small core after thin SVDs of both factors, eigenvalues from eig(B A). Each distinct
token-space factor is SVD'd once (cached), which is what a careful researcher would do; full
[positions, d_vocab] logit blocks are formed one head at a time (chunked).

Usage: /usr/bin/python3 peer_torch.py MODEL.h5 --threads N [--max-order 2]
Prints one JSON object: seconds per step and a few results for a sanity check.
"""
import argparse
import json
import math
import sys
import time

import h5py
import numpy as np
import torch


class Steps(dict):
    """Wall seconds per step; each finished step is also reported on stderr (wall and CPU seconds) so that
    a run cut short still shows how far it got."""

    def __init__(self):
        super().__init__()
        self.cpu = {}

    def __setitem__(self, name, wall):
        super().__setitem__(name, wall)
        print(f"peer step {name}: {wall:.2f} s wall, {time.process_time():.2f} s cpu so far", file=sys.stderr,
              flush=True)


class FactoredMatrix:
    """A @ B with A [..., m, k], B [..., k, n], never formed; TransformerLens's algorithms."""

    svd_cache = {}

    def __init__(self, A, B, key_a=None, key_b=None):
        self.A, self.B, self.key_a, self.key_b = A, B, key_a, key_b

    @staticmethod
    def _svd(M, key, side):
        """Thin SVD of a factor; only its small parts are kept (and cached by key): (S, Vh) of the left
        factor A [m, k], (U, S) of the right factor B [k, n]."""
        if key is not None and key in FactoredMatrix.svd_cache:
            return FactoredMatrix.svd_cache[key]
        U, S, Vh = torch.linalg.svd(M, full_matrices=False)
        small = (S, Vh) if side == "A" else (U, S)
        if key is not None:
            FactoredMatrix.svd_cache[key] = small
        return small

    def singular_values(self):
        Sa, Vha = self._svd(self.A, self.key_a, "A")
        Ub, Sb = self._svd(self.B, self.key_b, "B")
        middle = Sa[:, None] * (Vha @ Ub) * Sb[None, :]
        return torch.linalg.svdvals(middle)

    def norm(self):
        return float(self.singular_values().pow(2).sum().sqrt())

    def eigenvalues(self):
        return torch.linalg.eigvals(self.B @ self.A)

    def trace(self):
        return float((self.A * self.B.T).sum())


def copying(eigs):
    s = eigs.abs().sum()
    return float(eigs.real.sum() / s) if s > 0 else float("nan")


def load(path):
    f = h5py.File(path, "r")
    a = dict(f.attrs)
    cfg = {k: (a[k].decode() if isinstance(a[k], bytes) else a[k]) for k in a}
    t = lambda name: torch.from_numpy(np.asarray(f[name], dtype=np.float32))
    L = int(cfg["n_layers"])
    m = {
        "cfg": cfg,
        "W_E": t("embed/W_E"),
        "W_pos": t("pos_embed/W_pos"),
        "W_U": t("unembed/W_U"),
        "lnf_w": t("ln_final/w"),
        "lnf_b": t("ln_final/b"),
    }
    for name in ("W_Q", "W_K", "W_V", "W_O"):
        m[name] = [t(f"blocks/{l}/attn/{name}") for l in range(L)]
    m["ln1_w"] = [t(f"blocks/{l}/ln1/w") for l in range(L)]
    m["ln1_b"] = [t(f"blocks/{l}/ln1/b") for l in range(L)]
    f.close()
    return m


def layer_norm(x, w, b, eps=1e-5):
    x = x - x.mean(-1, keepdim=True)
    return x / (x.pow(2).mean(-1, keepdim=True) + eps).sqrt() * w + b


def forward(m, tokens, ablate_all=False, frozen=None, value_inputs=None):
    """Shortformer LN attention-only forward pass with a cache, like HookedTransformer.run_with_cache."""
    cfg = m["cfg"]
    L, dh = int(cfg["n_layers"]), int(cfg["d_head"])
    T = tokens.shape[1]
    x = m["W_E"][tokens]  # [b, T, d]
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    cache = {"resid_pre": [], "pattern": [], "result": []}
    for l in range(L):
        cache["resid_pre"].append(x)
        xn = layer_norm(x, m["ln1_w"][l], m["ln1_b"][l])
        qk_in = xn + m["W_pos"][:T]
        v_in = xn if value_inputs is None else layer_norm(value_inputs[l], m["ln1_w"][l], m["ln1_b"][l])
        if frozen is None:
            q = torch.einsum("btd,hde->bhte", qk_in, m["W_Q"][l])
            k = torch.einsum("btd,hde->bhte", qk_in, m["W_K"][l])
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
            pattern = scores.masked_fill(mask, float("-inf")).softmax(-1)
        else:
            pattern = frozen[l]
        v = torch.einsum("btd,hde->bhte", v_in, m["W_V"][l])
        result = torch.einsum("bhte,hed->bhtd", pattern @ v, m["W_O"][l])  # [b, h, T, d]
        cache["pattern"].append(pattern)
        cache["result"].append(result)
        if not ablate_all:
            x = x + result.sum(1)
    cache["resid_final"] = x
    logits = layer_norm(x, m["lnf_w"], m["lnf_b"]) @ m["W_U"]
    return logits, cache


def probe(m, n=25, R=4, S=10, seed=0):
    cfg = m["cfg"]
    rng = np.random.default_rng(seed)
    bos = int(cfg.get("bos_token", -1))
    usable = np.array([t for t in range(int(cfg["d_vocab"])) if t != bos])
    seqs = []
    for _ in range(S):
        block = rng.choice(usable, size=n, replace=False)
        seqs.append(([bos] if bos >= 0 else []) + list(block) * R)
    return torch.tensor(seqs), (1 if bos >= 0 else 0), n, R


def induction(m, timings):
    cfg = m["cfg"]
    L, H = int(cfg["n_layers"]), int(cfg["n_heads"])
    V = int(cfg["d_vocab"])
    t0 = time.perf_counter()
    tokens, offset, n, R = probe(m)
    S, T = tokens.shape
    logits, cache = forward(m, tokens)
    first = offset + n
    pos = torch.arange(first, T)
    prev = torch.zeros(L, H)
    dup = torch.zeros(L, H)
    ind = torch.zeros(L, H)
    for l in range(L):
        p = cache["pattern"][l]  # [S, H, T, T]
        prev[l] = p[:, :, pos, pos - 1].mean((0, 2))
        for r in range(1, R):  # earlier occurrences j = i - r' n
            for rr in range(1, r + 1):
                i = torch.arange(offset + r * n, offset + (r + 1) * n)
                dup[l] += p[:, :, i, i - rr * n].sum(-1).mean(0) / len(pos)
                ind[l] += p[:, :, i, i - rr * n + 1].sum(-1).mean(0) / len(pos)
    timings["induction_probe_forward_and_scores"] = time.perf_counter() - t0

    # Copying evaluator: head result -> final LN (linearised) -> W_U, one head at a time.
    t0 = time.perf_counter()
    x = cache["resid_final"][:, first:]
    scale = (x - x.mean(-1, keepdim=True)).pow(2).mean(-1, keepdim=True).add(1e-5).sqrt()  # [S, P, 1]
    ctx = tokens[:, None, :].expand(S, T - first, T)
    copying_eval = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            res = cache["result"][l][:, h, first:]  # [S, P, d]
            res = (res - res.mean(-1, keepdim=True)) / scale * m["lnf_w"]
            d = (res @ m["W_U"]).reshape(-1, V)  # [S P, V]
            p = torch.relu(d - d.mean(-1, keepdim=True))
            attn = cache["pattern"][l][:, h, first:, :]  # [S, P, T]
            weight = torch.zeros(S, T - first, V).scatter_add_(2, ctx, attn).reshape(-1, V)
            target = weight.argmax(-1)
            share = (p.gather(1, target[:, None])[:, 0] / p.sum(-1)).nanmean()
            chance = 1.0 / V
            copying_eval[l, h] = (share - chance) / (1 - chance) if share >= chance else share / chance - 1
    timings["induction_copying_eval"] = time.perf_counter() - t0

    # Weights: OV copying and the K-composition trace with earlier heads.
    t0 = time.perf_counter()
    W_E, W_U = m["W_E"], m["W_U"]
    ov_copying = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            ov = FactoredMatrix(W_E @ m["W_V"][l][h], m["W_O"][l][h] @ W_U)
            ov_copying[l, h] = copying(ov.eigenvalues())
    mech = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            A = W_E @ m["W_Q"][l][h]
            for lp in range(l):
                for hp in range(H):
                    B = W_E @ (m["W_V"][lp][hp] @ m["W_O"][lp][hp] @ m["W_K"][l][h])
                    M = FactoredMatrix(A, B.T, key_a=("EQ", l, h), key_b=("EVOK", lp, hp, l, h, "T"))
                    cos = M.trace() / (math.sqrt(V) * M.norm())
                    mech[l, h] += prev[lp, hp] * cos
    timings["induction_weights"] = time.perf_counter() - t0
    return {"induction_max": float(ind.max()), "prev_token_max": float(prev.max()),
            "copying_eval_mean": float(copying_eval.mean())}


def path_expansion(m, timings, max_order):
    cfg = m["cfg"]
    L, H = int(cfg["n_layers"]), int(cfg["n_heads"])
    W_E, W_U = m["W_E"], m["W_U"]
    scale = 1.0 / math.sqrt(int(cfg["d_head"]))
    t0 = time.perf_counter()
    direct = FactoredMatrix(W_E, W_U, key_a="E", key_b="U")
    out = {"direct_norm": direct.norm(), "direct_copying": copying(direct.eigenvalues())}
    heads = [(l, h) for l in range(L) for h in range(H)]
    EV = {(l, h): W_E @ m["W_V"][l][h] for l, h in heads}
    OU = {(l, h): m["W_O"][l][h] @ W_U for l, h in heads}
    head_norm = {}
    for lh in heads:
        f = FactoredMatrix(EV[lh], OU[lh], key_a=("EV",) + lh, key_b=("OU",) + lh)
        head_norm[lh] = (f.norm(), copying(f.eigenvalues()))
    virtual = {}
    for a in heads:
        for b in heads:
            if a[0] < b[0]:
                mid = m["W_O"][a[0]][a[1]] @ m["W_V"][b[0]][b[1]]
                f = FactoredMatrix(EV[a], mid @ OU[b], key_a=("EV",) + a, key_b=("MOU",) + a + b)
                virtual[a + b] = (f.norm(), copying(f.eigenvalues()))
    timings["path_ov_terms"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    qk = {}
    for l, h in heads:
        EQ = W_E @ m["W_Q"][l][h]
        EK = W_E @ m["W_K"][l][h]
        f = FactoredMatrix(EQ, EK.T, key_a=("EQ", l, h), key_b=("EK", l, h, "T"))
        qk[("direct", l, h)] = (scale * f.norm(), copying(f.eigenvalues()))
        earlier = [p for p in heads if p[0] < l]
        q_side = {p: W_E @ (m["W_V"][p[0]][p[1]] @ m["W_O"][p[0]][p[1]] @ m["W_Q"][l][h]) for p in earlier}
        k_side = {p: W_E @ (m["W_V"][p[0]][p[1]] @ m["W_O"][p[0]][p[1]] @ m["W_K"][l][h]) for p in earlier}
        for p in earlier:
            fq = FactoredMatrix(q_side[p], EK.T, key_a=("EVOQ",) + p + (l, h), key_b=("EK", l, h, "T"))
            fk = FactoredMatrix(EQ, k_side[p].T, key_a=("EQ", l, h), key_b=("EVOK",) + p + (l, h, "T"))
            qk[("q",) + p + (l, h)] = (scale * fq.norm(), copying(fq.eigenvalues()))
            qk[("k",) + p + (l, h)] = (scale * fk.norm(), copying(fk.eigenvalues()))
        for p in earlier:
            for k in earlier:
                f = FactoredMatrix(q_side[p], k_side[k].T, key_a=("EVOQ",) + p + (l, h),
                                   key_b=("EVOK",) + k + (l, h, "T"))
                qk[("qk",) + p + k + (l, h)] = scale * f.norm()
    timings["path_qk_terms"] = time.perf_counter() - t0

    # Ablation by order on the induction probe.
    t0 = time.perf_counter()
    tokens, _, _, _ = probe(m)

    def loss(logits):
        lp = logits[:, :-1].log_softmax(-1)
        return float(-lp.gather(-1, tokens[:, 1:, None]).mean())

    real_logits, real = forward(m, tokens)
    logits, prev = forward(m, tokens, ablate_all=True)
    order_loss = [loss(logits)]
    for _ in range(max_order):
        logits, prev = forward(m, tokens, frozen=real["pattern"], value_inputs=prev["resid_pre"])
        order_loss.append(loss(logits))
    timings["path_ablation"] = time.perf_counter() - t0
    out["order_loss"] = order_loss
    out["svds"] = len(FactoredMatrix.svd_cache)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-order", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    timings = Steps()
    with torch.no_grad():
        t0 = time.perf_counter()
        m = load(args.model)
        timings["load"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        results = {"path": path_expansion(m, timings, args.max_order)}
        timings["path_expansion"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        results["induction"] = induction(m, timings)
        timings["induction"] = time.perf_counter() - t0
    timings["total"] = sum(timings[k] for k in ("load", "path_expansion", "induction"))
    print(json.dumps({"timings": timings, "results": results, "torch": torch.__version__,
                      "torch_threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
