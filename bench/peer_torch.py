#!/usr/bin/python3
"""The peer of `circuits analyze` in the benchmark: the same computations (weight processing, bigram,
circuits, eigen, composition, path-expansion and induction passes) written in PyTorch as a researcher
would with TransformerLens-style factored matrices.

FactoredMatrix below follows TransformerLens's semantics: A @ B kept factored, norm() from the singular
values of the small core after thin SVDs of both factors, eigenvalues from eig(B A). Each distinct
token-space factor is SVD'd once (cached), which is what a careful researcher would do; full
[positions, d_vocab] logit blocks are formed one head at a time (chunked).

Full-vocabulary products (bigram, per-head OV and QK circuits) are formed in row blocks of CHUNK rows
and reduced with torch.topk at once, never held whole.

Usage: /usr/bin/python3 peer_torch.py MODEL.h5 --threads N [--max-order 2] [--top-k 10] [--baseline-samples 1000]
       [--circuits-rows R]
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

CHUNK = 2048


def process(m):
    """Weight processing as circuits does before its weight-based passes (TransformerLens's fold_ln and
    center_writing_weights): LayerNorm scales folded into the reading weights, which are then centred
    over d_model; W_E, W_pos and W_O centred over d_model. Biases are not used by the weight passes.
    Like circuits, a shortformer LayerNorm model (the benchmark's) is left as it is: its positions join
    queries and keys after ln1, so ln1's scale cannot be folded exactly."""
    if m["cfg"]["positional_embedding_type"] == "shortformer" and m["cfg"]["normalization_type"] != "none":
        return m
    p = dict(m)
    centre_rows = lambda W: W - W.mean(-2, keepdim=True)  # [.., d_model, x]: subtract the mean over d_model
    for name in ("W_Q", "W_K", "W_V"):
        p[name] = [centre_rows(m["ln1_w"][l][None, :, None] * W) for l, W in enumerate(m[name])]
    p["W_U"] = centre_rows(m["lnf_w"][:, None] * m["W_U"])
    p["W_E"] = m["W_E"] - m["W_E"].mean(-1, keepdim=True)
    p["W_pos"] = m["W_pos"] - m["W_pos"].mean(-1, keepdim=True)
    p["W_O"] = [W - W.mean(-1, keepdim=True) for W in m["W_O"]]
    return p


def top_rows(A, B, k, diagonal=False, column_k=0):
    """Top-k of every row of A @ B (A [m, r], B [r, n]), formed CHUNK rows at a time; optionally the
    rank of the diagonal entry in its row and the top-k of every column (merged block by block)."""
    vals, idx, ranks = [], [], []
    col_v = col_i = None
    for i in range(0, A.shape[0], CHUNK):
        block = A[i:i + CHUNK] @ B
        v, j = block.topk(k, dim=-1)
        vals.append(v)
        idx.append(j)
        if diagonal:
            rows = torch.arange(block.shape[0])
            d = block[rows, rows + i]
            # int32 sums: half the time of the default int64 reduction (measured, bench/README.md)
            ranks.append((block > d[:, None]).sum(-1, dtype=torch.int32))
        if column_k:
            cv, ci = block.topk(min(column_k, block.shape[0]), dim=0)
            ci = ci + i
            if col_v is not None:
                cv, sel = torch.cat([col_v, cv]).topk(column_k, dim=0)
                ci = torch.cat([col_i, ci]).gather(0, sel)
            col_v, col_i = cv, ci
    return torch.cat(vals), torch.cat(idx), (torch.cat(ranks) if diagonal else None), col_v, col_i


def bigram(p, timings, k):
    t0 = time.perf_counter()
    vals, idx, _, _, _ = top_rows(p["W_E"], p["W_U"], k)
    timings["bigram"] = time.perf_counter() - t0
    return {"top1_value_mean": float(vals[:, 0].mean())}


def circuits(p, timings, k, rows=0, n_positions=32, layers=0):
    """Per head, the OV and QK circuits reduced row block by row block. With rows > 0 only the first
    `rows` query/source tokens of every circuit are computed (all heads, all columns); with layers > 0
    only the first `layers` layers, whole. The times are then scaled by d_vocab / rows and
    n_layers / layers: an extrapolation, reported as such, for a peer too slow to finish."""
    cfg = p["cfg"]
    L, H, dh = int(cfg["n_layers"]), int(cfg["n_heads"]), int(cfg["d_head"])
    W_E, W_U = p["W_E"], p["W_U"]
    V = W_E.shape[0]
    n = V if rows <= 0 else min(rows, V)
    L_run = L if layers <= 0 else min(layers, L)
    scale = (V / n) * (L / L_run)
    t0 = time.perf_counter()
    ov_self, qk_self = torch.zeros(L, H), torch.zeros(L, H)
    for l in range(L_run):
        for h in range(H):
            _, _, rank, _, _ = top_rows(W_E[:n] @ p["W_V"][l][h], p["W_O"][l][h] @ W_U, k, diagonal=True)
            ov_self[l, h] = (rank == 0).float().mean()
    timings["circuits_ov"] = (time.perf_counter() - t0) * scale
    t0 = time.perf_counter()
    for l in range(L_run):
        for h in range(H):
            EQ = W_E[:n] @ p["W_Q"][l][h] / math.sqrt(dh)
            EK = W_E @ p["W_K"][l][h]
            _, _, rank, _, _ = top_rows(EQ, EK.T, k, diagonal=True, column_k=k)
            qk_self[l, h] = (rank == 0).float().mean()
            P = p["W_pos"][:n_positions]
            _ = (P @ p["W_Q"][l][h]) @ (P @ p["W_K"][l][h]).T / math.sqrt(dh)
    timings["circuits_qk"] = (time.perf_counter() - t0) * scale
    return {"ov_self_top1_mean": float(ov_self[:L_run].mean()), "qk_self_top1_mean": float(qk_self[:L_run].mean()),
            "rows_computed": n, "layers_computed": L_run, "extrapolated": n < V or L_run < L}


def eigen(p, timings):
    cfg = p["cfg"]
    L, H, dh = int(cfg["n_layers"]), int(cfg["n_heads"]), int(cfg["d_head"])
    W_E, W_U = p["W_E"], p["W_U"]
    t0 = time.perf_counter()
    ov, qk = torch.zeros(L, H), torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            ov[l, h] = copying(FactoredMatrix(W_E @ p["W_V"][l][h], p["W_O"][l][h] @ W_U).eigenvalues())
            qk[l, h] = copying(FactoredMatrix(W_E @ p["W_Q"][l][h] / math.sqrt(dh),
                                              (W_E @ p["W_K"][l][h]).T).eigenvalues())
    direct = copying(FactoredMatrix(W_E, W_U).eigenvalues())
    timings["eigen"] = time.perf_counter() - t0
    return {"ov_copying_mean": float(ov.mean()), "direct_copying": direct}


def comp_score(X, Y):
    """||X Y|| / (||X|| ||Y||) on factored [d_model, d_model] matrices (TransformerLens-style norms)."""
    XY = FactoredMatrix(X.A, (X.B @ Y.A) @ Y.B)
    return XY.norm() / (X.norm() * Y.norm())


def composition(p, timings, samples, seed=0):
    cfg = p["cfg"]
    L, H = int(cfg["n_layers"]), int(cfg["n_heads"])
    t0 = time.perf_counter()
    OV = {(l, h): FactoredMatrix(p["W_V"][l][h], p["W_O"][l][h]) for l in range(L) for h in range(H)}
    QK = {(l, h): FactoredMatrix(p["W_Q"][l][h], p["W_K"][l][h].T) for l in range(L) for h in range(H)}
    scores = {"q": [], "k": [], "v": []}
    for a in OV:
        for b in OV:
            if a[0] < b[0]:
                scores["q"].append(comp_score(OV[a], QK[b]))
                scores["k"].append(comp_score(OV[a], FactoredMatrix(QK[b].B.T, QK[b].A.T)))
                scores["v"].append(comp_score(OV[a], OV[b]))
    timings["composition_scores"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(seed)
    d, dh = int(cfg["d_model"]), int(cfg["d_head"])
    base = {}
    for kind in ("q", "k", "v"):
        draws = []
        for _ in range(samples):
            r = lambda *shape: torch.randn(*shape, generator=g)
            X = FactoredMatrix(r(d, dh), r(dh, d))
            Y = FactoredMatrix(r(d, dh), r(dh, d))
            draws.append(comp_score(X, Y))
        base[kind] = (float(np.mean(draws)), float(np.std(draws)))
    timings["composition_baseline"] = time.perf_counter() - t0
    return {"k_max": max(scores["k"]), "baseline": base}



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


def induction(m, timings, pm):
    """Probe scores on the raw model's forward pass; weight-based scores on the processed weights pm."""
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
    m = pm
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


def path_expansion(m, timings, max_order, raw):
    """Terms on the processed weights m; the ablation by order on the raw model's forward pass."""
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
    m = raw
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
    ap.add_argument("--top-k", type=int, default=10)
    ap.add_argument("--baseline-samples", type=int, default=1000)
    ap.add_argument("--circuits-rows", type=int, default=0,
                    help="compute only this many rows of each head's circuits and scale the time (0 = all)")
    ap.add_argument("--circuits-layers", type=int, default=0,
                    help="compute only this many layers' circuits, whole, and scale the time (0 = all)")
    ap.add_argument("--only-circuits", action="store_true", help="run only load, process and circuits")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    timings = Steps()
    with torch.no_grad():
        t0 = time.perf_counter()
        m = load(args.model)
        timings["load"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        pm = process(m)
        timings["process"] = time.perf_counter() - t0
        results = {}
        t0 = time.perf_counter()
        results["bigram"] = bigram(pm, timings, args.top_k)
        results["circuits"] = circuits(pm, timings, args.top_k, args.circuits_rows, layers=args.circuits_layers)
        timings["circuits"] = timings["circuits_ov"] + timings["circuits_qk"]
        if args.only_circuits:
            print(json.dumps({"timings": timings, "results": results, "torch": torch.__version__,
                              "torch_threads": torch.get_num_threads()}))
            return
        t0 = time.perf_counter()
        results["eigen"] = eigen(pm, timings)
        t0 = time.perf_counter()
        results["composition"] = composition(pm, timings, args.baseline_samples)
        timings["composition"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        results["path"] = path_expansion(pm, timings, args.max_order, m)
        timings["path_expansion"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        results["induction"] = induction(m, timings, pm)
        timings["induction"] = time.perf_counter() - t0
    timings["total"] = sum(timings[k] for k in ("load", "process", "bigram", "circuits", "eigen", "composition",
                                                "path_expansion", "induction"))
    print(json.dumps({"timings": timings, "results": results, "torch": torch.__version__,
                      "torch_threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
