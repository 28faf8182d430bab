"""Writes a d_vocab 48262 model and a results file with random top-k token tables, by h5py alone.

Usage: make_big_vocab_report.py MODEL.h5 RESULTS.h5
One layer, one head, d_model 8; /circuits/{ov,qk}_top_{tokens,values} [1, 1, 48262, 10] drawn at
random (seed 0): enough for the report's token-table search, which the browser test drives.
"""
import sys

import h5py
import numpy as np

V, K = 48262, 10
model_path, results_path = sys.argv[1:]
rng = np.random.default_rng(0)
with h5py.File(model_path, "w") as f:
    for k, v in dict(format="circuits-model", format_version=1, n_layers=1, n_heads=1, d_model=8, d_head=4,
                     d_vocab=V, d_vocab_out=V, n_ctx=32, d_mlp=0, positional_embedding_type="standard",
                     normalization_type="none", causal=1, origin="imported", bos_token=-1).items():
        f.attrs[k] = v
    f["embed/W_E"] = rng.standard_normal((V, 8), dtype=np.float32)
    f["pos_embed/W_pos"] = rng.standard_normal((32, 8), dtype=np.float32)
    for name in ("W_Q", "W_K", "W_V"):
        f[f"blocks/0/attn/{name}"] = rng.standard_normal((1, 8, 4), dtype=np.float32)
    f["blocks/0/attn/W_O"] = rng.standard_normal((1, 4, 8), dtype=np.float32)
    f["unembed/W_U"] = rng.standard_normal((8, V), dtype=np.float32)
    f.create_dataset("vocab", data=[f"w{i}é" for i in range(V)], dtype=h5py.string_dtype("utf-8"))
with h5py.File(results_path, "w") as r:
    r.attrs.update({"format": "circuits-results", "format_version": 1, "model_path": model_path})
    for kind in ("ov", "qk"):
        r[f"circuits/{kind}_top_tokens"] = rng.integers(0, V, (1, 1, V, K), dtype=np.int64)
        r[f"circuits/{kind}_top_values"] = np.sort(rng.standard_normal((1, 1, V, K)).astype(np.float32), axis=-1)[..., ::-1]
