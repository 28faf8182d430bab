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

from testlib import check, circuits_json, circuits_ok, finish, require_modules, run_circuits, script

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


def check_catalogue(tmp):
    """scripts/circuits_h5.py's expected tensors and attributes are the C++ catalogue's
    (`circuits inspect --catalogue`, lib/tensor_catalogue.cpp) for every kind of config."""
    h5 = script("circuits_h5")
    base = {"n_layers": 2, "n_heads": 3, "d_model": 8, "d_head": 2, "d_vocab": 5, "d_vocab_out": 4, "n_ctx": 6,
            "causal": 1, "bos_token": -1, "attn_scale": 1.0, "ln_eps": 1e-5, "origin": "imported", "act_fn": "gelu"}
    for pos, norm, d_mlp in (("standard", "LN", 3), ("none", "none", 0), ("shortformer", "LNPre", 3),
                             ("standard", "LN", 0)):
        cfg = dict(base, positional_embedding_type=pos, normalization_type=norm, d_mlp=d_mlp)
        expected = h5.expected_tensors(cfg)
        path = os.path.join(tmp, f"catalogue-{pos}-{norm}-{d_mlp}.h5")
        h5.write_model(path, cfg, {name: np.zeros(shape) for name, shape in expected},
                       [str(i) for i in range(cfg["d_vocab"])], [str(i) for i in range(cfg["d_vocab_out"])])
        catalogue = circuits_json("inspect", path, "--catalogue")
        ours = [(t["name"], tuple(t["shape"])) for t in catalogue["tensors"]]
        check(ours == [(name, tuple(shape)) for name, shape in expected],
              f"circuits_h5.expected_tensors differs from the catalogue for {pos}/{norm}/d_mlp={d_mlp}")
        optional = {t["name"] for t in catalogue["tensors"] if t["optional"]}
        check(optional == {name for name, _ in expected if name.rsplit(".", 1)[-1] in h5.OPTIONAL_TENSORS},
              "circuits_h5.OPTIONAL_TENSORS differs from the catalogue's optional tensors")
        check(all(t["path"] == t["name"].replace(".", "/") for t in catalogue["tensors"]),
              "the catalogue's HDF5 paths are not the TransformerLens names with slashes")
    attributes = {a["name"]: a for a in catalogue["attributes"]}
    python_attrs = set(h5.INT_ATTRS + h5.FLOAT_ATTRS + h5.STRING_ATTRS) | {"act_fn"}
    check(python_attrs <= set(attributes), f"circuits_h5 writes attributes the catalogue lacks: "
          f"{sorted(python_attrs - set(attributes))}")
    check({n for n, a in attributes.items() if a["required"]} <= python_attrs,
          "circuits_h5 leaves out a required attribute")
    for key, kind in [(k, "integer") for k in h5.INT_ATTRS] + [(k, "real") for k in h5.FLOAT_ATTRS] + \
            [(k, "text") for k in h5.STRING_ATTRS]:
        check(attributes[key]["type"] == kind, f"attribute '{key}': circuits_h5 writes {kind}, the catalogue "
              f"says {attributes[key]['type']}")


def required_only(ours, path, vocab=None):
    """Writes `path` with h5py as a user's own script would: the root attributes, the tensors the
    catalogue requires (no biases), /vocab, and no /vocab_out or labels."""
    catalogue = circuits_json("inspect", ours, "--catalogue")
    with h5py.File(ours, "r") as src, h5py.File(path, "w") as f:
        for key, value in src.attrs.items():
            f.attrs[key] = value
        for t in catalogue["tensors"]:
            if not t["optional"]:
                f.create_dataset(t["path"], data=np.asarray(src[t["path"]][()], dtype=np.float32))
        strings = vocab if vocab is not None else [s.decode() for s in src["vocab"][()]]
        f.create_dataset("vocab", data=np.array(strings, dtype=object), dtype=h5py.string_dtype("utf-8"))


def check_foreign_vocab_out(tmp):
    """Regression: a file with /vocab and no /vocab_out (d_vocab_out = d_vocab) keeps its output
    vocabulary; it used to get outputs "0", "1", ..., so `run` printed numbers and OV copying had
    no shared token, and `analyze` flagged no induction head."""
    ours = os.path.join(tmp, "planted-w.h5")
    circuits_ok("planted", "-o", ours, "--tokens", "10", "--n-ctx", "16")
    with h5py.File(ours, "r") as f:
        n = len(f["vocab"])
    words_vocab = ["<BOS>"] + [f"w{i}" for i in range(1, n)]
    foreign = os.path.join(tmp, "foreign.h5")
    required_only(ours, foreign, words_vocab)
    with h5py.File(foreign, "r") as f:
        check("vocab_out" not in f, "the foreign file was meant to have no /vocab_out")
    words = ["w3", "w1", "w9", "w5", "w3", "w1", "w9"]
    predictions = circuits_ok("run", foreign, *words).split()
    check(all(p in words_vocab for p in predictions),
          f"run on a file without /vocab_out printed {predictions}, not token strings")
    check(predictions[4:6] == ["w1", "w9"], f"the planted induction head predicts {predictions[4:6]}, not w1 w9")

    bundled = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "data", "models", "planted-2l.h5")
    rewritten = os.path.join(tmp, "planted-2l-foreign.h5")
    required_only(bundled, rewritten)
    results = os.path.join(tmp, "foreign.results.h5")
    circuits_ok("analyze", rewritten, "-o", results, "--passes", "induction")
    with h5py.File(results, "r") as f:
        check(bool(f["induction/is_induction_head"][1, 0]),
              "analyze flags no induction head at L1H0 of planted-2l.h5 rewritten without /vocab_out")


def check_every_kind_of_object(tmp):
    """Before circuits opens an HDF5 file, a child process reads every object in it
    (lib/hdf5_check.cpp). Every kind of object h5py writes passes that read: circuits then says
    what the file lacks as a model, never that it is corrupt."""
    path = os.path.join(tmp, "every_kind.h5")
    with h5py.File(path, "w") as f:
        f.attrs["strings"] = ["a", "bc"]
        f.attrs["vector"] = np.arange(5.0)
        f.attrs["flag"] = True
        f.create_group("g/h").attrs["deep"] = 1
        f["compound"] = np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "i4"), ("b", "f8")])
        f["bools"] = np.array([True, False])
        f["scalar"] = 3.5
        f["empty"] = np.zeros((0, 4))
        f["fixed"] = np.array([b"ab", b"cd"], dtype="S2")
        f.create_dataset("vlen_strings", data=["x", "yz", ""], dtype=h5py.string_dtype())
        ragged = f.create_dataset("ragged", (3,), dtype=h5py.vlen_dtype(np.int32))
        ragged[0], ragged[1], ragged[2] = [1], [1, 2], []
        f.create_dataset("ref", data=f["g"].ref, dtype=h5py.ref_dtype)
        # 24 MiB, chunked and compressed: read in more than one block of 16 MiB.
        f.create_dataset("big", data=np.arange(6_291_456, dtype="f4").reshape(1536, 4096), chunks=(64, 4096),
                         compression="gzip", compression_opts=1)
        f.create_dataset("unwritten", (1 << 20, 8), dtype="f8")  # never written: fill values
        f["soft"] = h5py.SoftLink("/g")
        f["dangling"] = h5py.SoftLink("/nowhere")
        f["external"] = h5py.ExternalLink("missing.h5", "/x")
    status, _, err = run_circuits("inspect", path)
    check(status == 1, f"inspect of a file with every kind of object: status {status} ({err.strip()})")
    check(path in err and "corrupt" not in err and "format" in err,
          f"inspect of a file with every kind of object: {err.strip()!r}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        check_every_kind_of_object(tmp)
        check_catalogue(tmp)
        check_foreign_vocab_out(tmp)
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
