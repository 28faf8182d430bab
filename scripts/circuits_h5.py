"""Writes circuits model files (HDF5, format_version 1, names as in ARCHITECTURE.md) with h5py.

Shared by export_transformerlens.py and export_tracr.py. Tensors are given by their
TransformerLens state-dict names ("blocks.0.attn.W_Q") and stored under the same path with
slashes ("/blocks/0/attn/W_Q"); every shape is checked against the config before anything is
written, and the file is written under a temporary name beside the target and renamed into place.
"""

import math
import os
import tempfile

import numpy as np

FORMAT_VERSION = 1

# Root attributes that every model file carries, with their types.
INT_ATTRS = ("n_layers", "n_heads", "d_model", "d_head", "d_vocab", "d_vocab_out", "n_ctx", "d_mlp", "causal",
             "bos_token")
FLOAT_ATTRS = ("attn_scale", "ln_eps")
STRING_ATTRS = ("positional_embedding_type", "normalization_type", "origin")

OPTIONAL_TENSORS = ("b_Q", "b_K", "b_V", "b_O", "b_in", "b_out", "b_U")


class ExportError(Exception):
    """A bad input: the exporter prints it as 'NAME: error: ...' and exits with status 1."""


def expected_tensors(cfg):
    """Every tensor of a model with config `cfg`: (TransformerLens name, shape), in file order.

    The C++ catalogue (lib/tensor_catalogue.cpp) is the definition; tests/scripts/test_model_file_h5py.py
    checks this list against it (`circuits inspect --catalogue`) for every kind of config.
    """
    D, H, dh = cfg["d_model"], cfg["n_heads"], cfg["d_head"]
    ln = cfg["normalization_type"] == "LN"
    out = [("embed.W_E", (cfg["d_vocab"], D))]
    if cfg["positional_embedding_type"] != "none":
        out.append(("pos_embed.W_pos", (cfg["n_ctx"], D)))
    for layer in range(cfg["n_layers"]):
        p = f"blocks.{layer}."
        if ln:
            out += [(p + "ln1.w", (D,)), (p + "ln1.b", (D,))]
        out += [(p + "attn.W_Q", (H, D, dh)), (p + "attn.W_K", (H, D, dh)), (p + "attn.W_V", (H, D, dh)),
                (p + "attn.W_O", (H, dh, D)), (p + "attn.b_Q", (H, dh)), (p + "attn.b_K", (H, dh)),
                (p + "attn.b_V", (H, dh)), (p + "attn.b_O", (D,))]
        if cfg["d_mlp"] > 0:
            if ln:
                out += [(p + "ln2.w", (D,)), (p + "ln2.b", (D,))]
            out += [(p + "mlp.W_in", (D, cfg["d_mlp"])), (p + "mlp.b_in", (cfg["d_mlp"],)),
                    (p + "mlp.W_out", (cfg["d_mlp"], D)), (p + "mlp.b_out", (D,))]
    if ln:
        out += [("ln_final.w", (D,)), ("ln_final.b", (D,))]
    out += [("unembed.W_U", (D, cfg["d_vocab_out"])), ("unembed.b_U", (cfg["d_vocab_out"],))]
    return out


def check_config(cfg):
    """Raises ExportError unless `cfg` (the root attributes) is complete and consistent."""
    for key in INT_ATTRS + FLOAT_ATTRS + STRING_ATTRS:
        if key not in cfg:
            raise ExportError(f"model config lacks '{key}'")
    for key in ("n_heads", "d_model", "d_head", "d_vocab", "d_vocab_out", "n_ctx"):
        if int(cfg[key]) <= 0:
            raise ExportError(f"'{key}' must be positive, got {cfg[key]}")
    if cfg["n_layers"] < 0 or cfg["d_mlp"] < 0:
        raise ExportError("'n_layers' and 'd_mlp' must be >= 0")
    if cfg["positional_embedding_type"] not in ("standard", "shortformer", "none"):
        raise ExportError(f"positional_embedding_type '{cfg['positional_embedding_type']}' is not supported "
                          "(standard, shortformer or none)")
    if cfg["normalization_type"] not in ("none", "LN", "LNPre"):
        raise ExportError(f"normalization_type '{cfg['normalization_type']}' is not supported (none, LN or LNPre)")
    if cfg["d_mlp"] > 0 and cfg.get("act_fn") not in ("relu", "gelu"):
        raise ExportError(f"act_fn '{cfg.get('act_fn')}' is not supported (relu or gelu)")
    if cfg["origin"] not in ("compiled", "trained", "imported"):
        raise ExportError(f"origin '{cfg['origin']}' is not compiled, trained or imported")
    if not (cfg["attn_scale"] > 0 and math.isfinite(cfg["attn_scale"])):
        raise ExportError(f"attn_scale must be positive, got {cfg['attn_scale']}")
    if not -1 <= cfg["bos_token"] < cfg["d_vocab"]:
        raise ExportError(f"bos_token {cfg['bos_token']} outside [-1, d_vocab = {cfg['d_vocab']})")


def check_tensor(name, array, shape):
    """Raises ExportError naming the tensor unless it has `shape` and only finite values."""
    if tuple(array.shape) != tuple(shape):
        raise ExportError(f"tensor '{name}' has shape {list(array.shape)}, expected {list(shape)}")
    if not np.all(np.isfinite(array)):
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ExportError(f"tensor '{name}' has a non-finite value {array[index]} at {list(index)}")


def write_model(path, cfg, tensors, vocab, vocab_out, residual_labels=None, program_source=None, output_sop=None):
    """Writes a circuits model file.

    cfg: the root attributes (INT_ATTRS, FLOAT_ATTRS, STRING_ATTRS, and act_fn when d_mlp > 0).
    tensors: TransformerLens name -> numpy array; optional biases may be absent (zeros).
    vocab, vocab_out: lists of strings [d_vocab], [d_vocab_out]; residual_labels: [d_model] or None.
    """
    import h5py

    check_config(cfg)
    expected = expected_tensors(cfg)
    names = {name for name, _ in expected}
    for name in sorted(set(tensors) - names):
        raise ExportError(f"tensor '{name}' does not belong in a model with this config")
    arrays = {}
    for name, shape in expected:
        if name not in tensors:
            if name.rsplit(".", 1)[-1] in OPTIONAL_TENSORS:
                continue
            raise ExportError(f"missing tensor '{name}' of shape {list(shape)}")
        array = np.asarray(tensors[name], dtype=np.float32)
        check_tensor(name, array, shape)
        arrays[name] = array
    for key, strings, n in (("vocab", vocab, cfg["d_vocab"]), ("vocab_out", vocab_out, cfg["d_vocab_out"]),
                            ("residual_labels", residual_labels, cfg["d_model"])):
        if strings is not None and len(strings) != n:
            raise ExportError(f"{key} has {len(strings)} strings, expected {n}")

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ExportError(f"{path}: the folder {folder} does not exist")
    fd, temp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp-", dir=folder)
    os.close(fd)
    try:
        strings = h5py.string_dtype("utf-8")
        with h5py.File(temp, "w") as f:
            f.attrs["format"] = "circuits-model"
            f.attrs["format_version"] = np.int64(FORMAT_VERSION)
            for key in INT_ATTRS:
                f.attrs[key] = np.int64(int(cfg[key]))
            for key in FLOAT_ATTRS:
                f.attrs[key] = np.float64(cfg[key])
            for key in STRING_ATTRS:
                f.attrs[key] = str(cfg[key])
            if cfg["d_mlp"] > 0:
                f.attrs["act_fn"] = str(cfg["act_fn"])
            for name, array in arrays.items():
                f.create_dataset(name.replace(".", "/"), data=array, dtype="<f4")
            f.create_dataset("vocab", data=np.array(list(vocab), dtype=object), dtype=strings)
            f.create_dataset("vocab_out", data=np.array(list(vocab_out), dtype=object), dtype=strings)
            if residual_labels is not None:
                f.create_dataset("residual_labels", data=np.array(list(residual_labels), dtype=object), dtype=strings)
            if program_source:
                f.create_dataset("program/source", data=program_source, dtype=strings)
            if output_sop:
                f.create_dataset("program/output", data=output_sop, dtype=strings)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


def read_lines(path):
    """The lines of a UTF-8 text file (one token per line), without line ends; a final empty line is dropped."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ExportError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ExportError(f"{path}: not UTF-8 text") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]
