#!/usr/bin/python3
"""Writes a circuits model file with the shapes of TransformerLens's attn-only-4l (4 layers, 8 heads,
d_model 512, d_head 64, d_vocab 48262, n_ctx 1024, LayerNorm, shortformer positions) and random
weights from a fixed seed. Usage: /usr/bin/python3 make_model.py OUT.h5 [--seed S]"""
import argparse

import h5py
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
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
            for name in ("W_Q", "W_K", "W_V"):
                f[f"blocks/{l}/attn/{name}"] = normal((H, D, dh), 0.05)
            f[f"blocks/{l}/attn/W_O"] = normal((H, dh, D), 0.05)
        f["ln_final/w"] = 1.0 + normal((D,), 0.1)
        f["ln_final/b"] = normal((D,), 0.1)
        f["unembed/W_U"] = normal((D, V), 0.05)
    import os
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
