#!/usr/bin/python3
"""Writes a circuits model file with the shapes of TransformerLens's attn-only-4l (4 layers, 8 heads,
d_model 512, d_head 64, d_vocab 48262, n_ctx 1024, LayerNorm, shortformer positions) and random
weights from a fixed seed.

--spectrum random (default): every weight Gaussian; each head's OV and QK circuits then have the flat
  spectrum of a product of random matrices.
--spectrum decaying: each head's W_Q, W_K, W_V, W_O is U diag(σ) Rᵀ with random orthonormal U, R and
  σ_c = s·2^(-c/4) (c = 0 .. d_head-1), W_O and W_K sharing R with W_V and W_Q, so that W_V W_O and
  W_Q W_Kᵀ have singular values s²·2^(-c/2): halving every two components. The bundled trained models
  (data/models/trained, d_head 16) fall off at least as fast: their OV circuits keep 2-3 components
  within a factor 5 of the first, then drop below 1e-2. W_E, W_pos, W_U stay Gaussian.
Usage: /usr/bin/python3 make_model.py OUT.h5 [--seed S] [--spectrum random|decaying]"""
import argparse

import h5py
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--spectrum", choices=("random", "decaying"), default="random")
    args = ap.parse_args()
    L, H, D, dh, V, n_ctx = 4, 8, 512, 64, 48262, 1024
    rng = np.random.default_rng(args.seed)
    normal = lambda shape, std: (rng.standard_normal(shape, dtype=np.float32) * std).astype(np.float32)
    tmp = args.out + ".tmp"
    with h5py.File(tmp, "w") as f:
        attrs = dict(format="circuits-model", format_version=1, n_layers=L, n_heads=H, d_model=D, d_head=dh,
                     d_vocab=V, d_vocab_out=V, n_ctx=n_ctx, d_mlp=0, positional_embedding_type="shortformer",
                     normalization_type="LN", causal=1, origin="imported", bos_token=0)
        for k, v in attrs.items():
            f.attrs[k] = v
        f["embed/W_E"] = normal((V, D), 1.0)
        f["pos_embed/W_pos"] = normal((n_ctx, D), 1.0)
        for l in range(L):
            f[f"blocks/{l}/ln1/w"] = 1.0 + normal((D,), 0.1)
            f[f"blocks/{l}/ln1/b"] = normal((D,), 0.1)
            if args.spectrum == "random":
                for name in ("W_Q", "W_K", "W_V"):
                    f[f"blocks/{l}/attn/{name}"] = normal((H, D, dh), 0.05)
                f[f"blocks/{l}/attn/W_O"] = normal((H, dh, D), 0.05)
            else:
                for name, value in decaying_heads(rng, H, D, dh).items():
                    f[f"blocks/{l}/attn/{name}"] = value
        f["ln_final/w"] = 1.0 + normal((D,), 0.1)
        f["ln_final/b"] = normal((D,), 0.1)
        f["unembed/W_U"] = normal((D, V), 0.05)
    import os
    os.replace(tmp, args.out)


def orthonormal(rng, n, k):
    q, _ = np.linalg.qr(rng.standard_normal((n, k)))
    return q


def decaying_heads(rng, H, D, dh):
    """Per head W_V = U_V diag(σ) Rᵀ, W_O = R diag(σ) U_Oᵀ (and W_Q, W_K alike), σ_c = s·2^(-c/4):
    the circuits' singular values s²·2^(-c/2). s matches the Gaussian heads' size (0.05·sqrt(D))."""
    s = 0.05 * np.sqrt(D)
    sigma = s * 2.0 ** (-np.arange(dh) / 4.0)
    out = {name: np.zeros((H, D, dh) if name != "W_O" else (H, dh, D), np.float32)
           for name in ("W_Q", "W_K", "W_V", "W_O")}
    for h in range(H):
        for a, b in (("W_V", "W_O"), ("W_Q", "W_K")):
            R = orthonormal(rng, dh, dh)
            first = orthonormal(rng, D, dh) * sigma @ R.T  # [D, dh]
            second = orthonormal(rng, D, dh) * sigma @ R.T  # [D, dh]: W_K [D, dh], or W_Oᵀ
            out[a][h] = first
            out[b][h] = second.T if b == "W_O" else second
    return out


if __name__ == "__main__":
    main()
