#!/usr/bin/python3
"""Test helper: turns a planted model (from `circuits planted`) into a report fixture.

Usage: make_report_fixture.py MODEL.h5 RESULTS.h5

Edits MODEL.h5 in place: awkward token strings (<, &, quotes, non-ASCII) and a /training group of
per-step curves. Writes RESULTS.h5 with every contract group; the circuit tables, eigenvalues,
composition and path norms are computed here from the weights with numpy, the probe scores are set
to what the planted model holds (L0H0 previous-token, L1H0 induction). Independent of the analyses.
"""
import sys

import h5py
import numpy as np

AWKWARD = ["<BOS>", "<b>&amp;", "\"q'uote\"", "héllo✓", "a<c", "</title>", "x&y"]


def top_k(m, k):
    order = np.argsort(-m, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(m, order, axis=1)


def copying(eig):
    total = np.abs(eig).sum()
    return float(eig.real.sum() / total) if total > 1e-9 else float("nan")


def main(model_path, results_path):
    with h5py.File(model_path, "r+") as f:
        V = int(f.attrs["d_vocab"])
        if V != len(AWKWARD):
            sys.exit(f"expected a planted model with {len(AWKWARD) - 1} tokens, got d_vocab = {V}")
        for name in ("vocab", "vocab_out"):
            if name in f:
                del f[name]
            f.create_dataset(name, data=AWKWARD, dtype=h5py.string_dtype("utf-8"))
        L, H = int(f.attrs["n_layers"]), int(f.attrs["n_heads"])
        if "training" in f:
            del f["training"]
        steps = np.arange(0, 500, 10)
        t = steps / steps[-1]
        g = f.create_group("training")
        g["steps"] = steps
        g["loss"] = 3.0 * np.exp(-4 * t) + 0.4
        entropy = np.stack([np.full_like(t, 2.0) - 1.5 * t ** (0.5 + 0.5 * i) for i in range(L * H)], axis=1)
        g["attention_entropy"] = entropy.reshape(len(steps), L, H)
        g["induction_score"] = np.stack([1 / (1 + np.exp(-12 * (t - 0.5))) * (i == 2) + 0.05 * t for i in range(L * H)], axis=1)
        g.attrs["task"] = "repeated random sequences"

        W_E = f["embed/W_E"][()]
        W_pos = f["pos_embed/W_pos"][()]
        W_U = f["unembed/W_U"][()]
        d_model, d_head = int(f.attrs["d_model"]), int(f.attrs["d_head"])
        scale = float(f.attrs["attn_scale"]) if float(f.attrs.get("attn_scale", 0)) > 0 else np.sqrt(d_head)
        W_Q = [f[f"blocks/{l}/attn/W_Q"][()] for l in range(L)]
        W_K = [f[f"blocks/{l}/attn/W_K"][()] for l in range(L)]
        W_V = [f[f"blocks/{l}/attn/W_V"][()] for l in range(L)]
        W_O = [f[f"blocks/{l}/attn/W_O"][()] for l in range(L)]

    k, P = 4, 8
    OV = lambda l, h: W_V[l][h] @ W_O[l][h]
    QK = lambda l, h: W_Q[l][h] @ W_K[l][h].T
    with h5py.File(results_path, "w") as r:
        r.attrs.update({"format": "circuits-results", "format_version": 1, "model_path": model_path,
                        "model_sha256": "0" * 64, "circuits_version": "fixture", "weight_processing": "none",
                        "passes": "bigram,circuits,eigen,composition,path,induction", "top_k": k})
        bt, bv = top_k(W_E @ W_U, k)
        r["bigram/top_tokens"], r["bigram/top_logits"] = bt, bv.astype(np.float32)
        shape = (L, H, V, k)
        ov_t, qk_t, dest_t = (np.zeros(shape, np.int64) for _ in range(3))
        ov_v, qk_v, dest_v = (np.zeros(shape, np.float32) for _ in range(3))
        diag, qk_pos = np.zeros((L, H), np.float32), np.zeros((L, H, P, P), np.float32)
        re, im, qk_re, qk_im = (np.zeros((L, H, d_head), np.float32) for _ in range(4))
        ov_copy, qk_copy, head_norm = (np.zeros((L, H), np.float32) for _ in range(3))
        for l in range(L):
            for h in range(H):
                ov_full = W_E @ OV(l, h) @ W_U
                ov_t[l, h], ov_v[l, h] = top_k(ov_full, k)
                qk_full = W_E @ QK(l, h) @ W_E.T / scale
                qk_t[l, h], qk_v[l, h] = top_k(qk_full, k)
                dest_t[l, h], dest_v[l, h] = top_k(qk_full.T, k)  # top queries per key
                diag[l, h] = np.mean(np.argmax(ov_full, axis=1) == np.arange(V))
                qk_pos[l, h] = W_pos[:P] @ QK(l, h) @ W_pos[:P].T / scale
                # eig(W_E W_V W_O W_U) = eig((W_O W_U)(W_E W_V)) ∪ {0}
                eig = np.linalg.eigvals((W_O[l][h] @ W_U) @ (W_E @ W_V[l][h]))
                re[l, h], im[l, h] = eig.real, eig.imag
                ov_copy[l, h] = copying(eig)
                qk_eig = np.linalg.eigvals((W_E @ W_K[l][h]).T @ (W_E @ W_Q[l][h]))
                qk_re[l, h], qk_im[l, h] = qk_eig.real, qk_eig.imag
                qk_copy[l, h] = copying(qk_eig)
                head_norm[l, h] = np.linalg.norm(ov_full)
        r["circuits/ov_top_tokens"], r["circuits/ov_top_values"] = ov_t, ov_v
        r["circuits/qk_top_tokens"], r["circuits/qk_top_values"] = qk_t, qk_v
        r["circuits/skip_trigram_dest_tokens"], r["circuits/skip_trigram_dest_values"] = dest_t, dest_v
        r["circuits/ov_diag_top1"], r["circuits/qk_pos"] = diag, qk_pos
        r["eigen/ov_eigenvalues_re"], r["eigen/ov_eigenvalues_im"] = re, im
        r["eigen/qk_eigenvalues_re"], r["eigen/qk_eigenvalues_im"] = qk_re, qk_im
        r["eigen/ov_copying"], r["eigen/qk_copying"] = ov_copy, qk_copy

        mean, std = 1 / np.sqrt(d_model), 0.02
        comp = r.create_group("composition")
        for kind in "qkv":
            raw = np.full((L, H, L, H), np.nan, np.float32)
            for l1 in range(L):
                for h1 in range(H):
                    for l2 in range(l1 + 1, L):
                        for h2 in range(H):
                            X = OV(l1, h1)
                            Y = {"q": QK(l2, h2), "k": QK(l2, h2).T, "v": OV(l2, h2)}[kind]
                            den = np.linalg.norm(X) * np.linalg.norm(Y)
                            raw[l1, h1, l2, h2] = np.linalg.norm(X @ Y) / den if den > 0 else np.nan
            comp[kind], comp[kind + "_z"] = raw, (raw - mean) / std
            comp.attrs[kind + "_baseline_mean"], comp.attrs[kind + "_baseline_std"] = mean, std

        path = r.create_group("path")
        path.attrs["direct_norm"] = np.float64(np.linalg.norm(W_E @ W_U))
        path["head_norm"] = head_norm
        virt = np.full((L, H, L, H), np.nan, np.float32)
        for l1 in range(L):
            for h1 in range(H):
                for l2 in range(l1 + 1, L):
                    for h2 in range(H):
                        virt[l1, h1, l2, h2] = np.linalg.norm(W_E @ OV(l1, h1) @ OV(l2, h2) @ W_U)
        path["virtual_norm"] = virt
        path["order_loss"] = np.array([3.2188, 1.5, 0.4125])
        path.attrs["real_loss"] = np.float64(0.3906)

        ind = r.create_group("induction")
        ind["prev_token"] = np.array([[0.9731, 0.0625], [0.0412, 0.0588]], np.float32)
        ind["duplicate_token"] = np.array([[0.0107, 0.0571], [0.0214, 0.0493]], np.float32)
        ind["induction"] = np.array([[0.0118, 0.0633], [0.9375, 0.0541]], np.float32)
        ind["copying_eval"] = np.array([[-0.0312, 0.0123], [0.8842, -0.0007]], np.float32)
        ind["mechanistic"] = np.array([[0.0, 0.0], [2.125, 0.0031]], np.float32)
        ind["is_induction_head"] = np.array([[0, 0], [1, 0]], np.uint8)
        ind["is_prev_token_head"] = np.array([[1, 0], [0, 0]], np.uint8)
        ind["is_copying_head"] = np.array([[0, 0], [1, 0]], np.uint8)
        ind.attrs["is_induction_head_rule"] = "induction >= 0.4 and ov_copying > 0"


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
