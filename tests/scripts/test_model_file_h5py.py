"""The model file format is what ARCHITECTURE.md documents: a file written here with h5py, from the
documented names only, reads the same as one written by circuits itself; and circuits writes only
documented names.

Usage: test_model_file_h5py.py PATH/TO/circuits
"""

import sys
sys.dont_write_bytecode = True  # nothing written into the source tree

import os
import re
import tempfile

from testlib import check, circuits_ok, finish, require_modules

require_modules("numpy", "h5py")
import h5py  # noqa: E402
import numpy as np  # noqa: E402

# ARCHITECTURE.md, "Model file (HDF5), format_version 1". ln_eps and weight_processing are root
# attributes the C++ writer adds beyond that list (LayerNorm epsilon; processing applied).
ROOT_ATTRS = {"format", "format_version", "n_layers", "n_heads", "d_model", "d_head", "d_vocab", "d_vocab_out",
              "n_ctx", "d_mlp", "positional_embedding_type", "normalization_type", "attn_scale", "causal", "act_fn",
              "origin", "bos_token", "ln_eps", "weight_processing"}
DATASETS = [r"embed/W_E", r"pos_embed/W_pos", r"blocks/\d+/ln[12]/[wb]", r"blocks/\d+/attn/[WbB]_[QKVO]",
            r"blocks/\d+/mlp/(W_in|b_in|W_out|b_out)", r"ln_final/[wb]", r"unembed/W_U", r"unembed/b_U", r"vocab",
            r"vocab_out", r"residual_labels", r"program/source", r"program/output", r"training/.*"]


def documented(name):
    return any(re.fullmatch(p, name) for p in DATASETS)


def write_by_hand(ours, path):
    """Writes `path` with h5py from the documented names, choosing other (valid) storage types than ours."""
    with h5py.File(ours, "r") as src, h5py.File(path, "w") as f:
        a = src.attrs
        f.attrs["format"] = "circuits-model"
        f.attrs["format_version"] = np.int32(1)
        for key in ("n_layers", "n_heads", "d_model", "d_head", "d_vocab", "d_vocab_out", "n_ctx", "d_mlp",
                    "bos_token"):
            f.attrs[key] = np.int32(a[key])                     # 32-bit instead of 64-bit integers
        f.attrs["causal"] = np.bool_(a["causal"])               # numpy bool (an HDF5 enum)
        f.attrs["attn_scale"] = np.float32(a["attn_scale"])     # float32 (exact for these values)
        for key in ("positional_embedding_type", "normalization_type", "origin"):
            f.attrs[key] = np.bytes_(str(a[key]).encode())      # fixed-length ASCII strings
        f.attrs["ln_eps"] = float(a["ln_eps"])

        def copy(name, obj):
            if not isinstance(obj, h5py.Dataset):
                return
            if obj.dtype.kind == "f":
                f.create_dataset(name, data=np.asarray(obj[()], dtype=np.float64))  # float64 on disk
            elif name == "vocab_out":
                strings = [s.decode() for s in obj[()]]
                f.create_dataset(name, data=np.array([s.encode() for s in strings]))  # fixed-length
            else:
                f.create_dataset(name, data=obj[()], dtype=h5py.string_dtype("utf-8"))
        src.visititems(copy)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        ours = os.path.join(tmp, "planted.h5")
        circuits_ok("planted", "-o", ours, "--tokens", "6", "--n-ctx", "16")
        with h5py.File(ours, "r") as f:
            for key in f.attrs:
                check(key in ROOT_ATTRS, f"circuits writes an undocumented root attribute '{key}'")
            names = []
            f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
            for name in names:
                check(documented(name), f"circuits writes an undocumented dataset '{name}'")
            check(f["blocks/0/attn/W_Q"].shape == (f.attrs["n_heads"], f.attrs["d_model"], f.attrs["d_head"]),
                  "W_Q is not stored [n_heads, d_model, d_head]")
            check(f["unembed/W_U"].shape == (f.attrs["d_model"], f.attrs["d_vocab_out"]),
                  "W_U is not stored [d_model, d_vocab_out]")
            check(f["vocab"].dtype.kind == "O", "vocab is not stored as variable-length strings")
            vocab = [s.decode() for s in f["vocab"][()]]

        theirs = os.path.join(tmp, "by_hand.h5")
        write_by_hand(ours, theirs)
        a, b = circuits_ok("inspect", ours), circuits_ok("inspect", theirs)
        check(a.split("\n", 1)[1] == b.split("\n", 1)[1], "inspect differs between our file and the h5py one")
        check("residual_labels:" in b and "bos_token: 0 (<BOS>)" in b, "the h5py file lost labels or BOS")
        words = [vocab[i] for i in (1, 2, 3, 1, 4, 2, 3, 5)]
        for flags in ([], ["--attention"], ["--json", "--attention", "--logits"]):
            check(circuits_ok("run", ours, *words, *flags) == circuits_ok("run", theirs, *words, *flags),
                  f"run {flags} differs between our file and the h5py one")
        # The planted induction head predicts the token that followed the earlier occurrence.
        predictions = circuits_ok("run", theirs, *words).split()
        for i, w in enumerate(words):
            if w in words[:i]:
                j = words.index(w)
                check(predictions[i] == words[j + 1], f"position {i}: predicted {predictions[i]}, "
                      f"expected {words[j + 1]} ({predictions})")
    finish()


if __name__ == "__main__":
    main()
