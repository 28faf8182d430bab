#!/usr/bin/python3
"""Exports a compiled Tracr model to a circuits model file (HDF5, origin = compiled).

Usage:
    export_tracr.py PARAMS.npz --meta META.json -o MODEL.h5
    export_tracr.py --program FILE.py:NAME --vocab a,b,c --max-seq-len N [--bos BOS] [--causal] -o MODEL.h5
        (compiles the RASP program NAME defined in FILE.py with Tracr; needs the tracr package)
From Python, with tracr: export_assembled(compiled_model, "model.h5").

PARAMS.npz holds the model's Haiku parameters, one array per "MODULE/PARAM" key, as
`np.savez(path, **{f"{m}/{p}": v for m, d in model.params.items() for p, v in d.items()})` gives:
    token_embed/embeddings               [d_vocab, d_model]  row i: input token with encoding i
    pos_embed/embeddings                 [n_ctx, d_model]
    transformer/layer_N/attn/query/w     [d_model, n_heads * key_size]   heads packed as (n_heads key_size)
    transformer/layer_N/attn/key/w       [d_model, n_heads * key_size]
    transformer/layer_N/attn/value/w     [d_model, n_heads * key_size]
    transformer/layer_N/attn/linear/w    [n_heads * key_size, d_model]   heads packed along the first axis
    transformer/layer_N/mlp/linear_1/w   [d_model, hidden_N]
    transformer/layer_N/mlp/linear_2/w   [hidden_N, d_model]
and the matching ".../b" biases (optional: zeros). Tracr's layer N is an attention sub-layer then
an MLP sub-layer, each reading and adding to the residual stream, with no layer norm; attention
logits are divided by sqrt(key_size); the activation is ReLU. A layer with no attention (or no
MLP) keys gets zero weights there; MLP hidden sizes are padded with zeros to the largest one, and
when every MLP weight is zero the model is written attention-only (exactly the same function).

META.json describes the rest of the compiled model:
    {
      "residual_labels": ["indices:0", ..., "one", "tokens:BOS", "tokens:a", ...],   # [d_model]
      "input_vocab": ["BOS", "a", "b", ...],     # [d_vocab], in encoding order (Tracr's input encoder)
      "bos_token": "BOS",                        # must be in input_vocab
      "output_encoder": {"name": "reverse", "values": ["a", "b", ...]},   # decoding order
      "max_seq_len": 5,                          # optional; at most n_ctx
      "n_heads": 1,
      "causal": false,
      "program_source": "..."                    # optional: kept in /program/source
    }
Values are turned into strings as Python prints them (1, True, "a"), as Tracr's labels do. The
unembedding W_U [d_model, d_vocab_out] reads the output s-op's subspace: column j is one at the
residual direction labelled "NAME:values[j]" (Tracr's argmax decoding), so vocab_out = values.
Numerical (non-categorical) outputs cannot be decoded by argmax and are rejected.

Errors print "export_tracr: error: ..." and exit with status 1; nothing is written then.
"""

import argparse
import json
import math
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from circuits_h5 import ExportError, check_tensor, write_model  # noqa: E402

PROG = "export_tracr"

LAYER_KEY = re.compile(r"^transformer/layer_(\d+)/(attn/(query|key|value|linear)|mlp/(linear_1|linear_2))/(w|b)$")


def _value_string(v):
    """A Tracr value as its basis label prints it (str() of the Python value)."""
    return str(v)


def _require(meta, key, kind):
    if key not in meta:
        raise ExportError(f"meta: missing key '{key}'")
    if not isinstance(meta[key], kind) or isinstance(meta[key], bool) and kind is int:
        raise ExportError(f"meta: '{key}' has the wrong type ({type(meta[key]).__name__})")
    return meta[key]


def _array(params, key, ndim):
    if key not in params:
        raise ExportError(f"missing parameter '{key}'")
    a = np.asarray(params[key], dtype=np.float64)
    if a.ndim != ndim:
        raise ExportError(f"parameter '{key}' has shape {list(a.shape)}, expected {ndim} dimensions")
    return a


def convert(params, meta):
    """Tracr parameters ("module/param" -> array) + META dict -> keyword arguments of circuits_h5.write_model."""
    labels = [str(s) for s in _require(meta, "residual_labels", list)]
    if len(set(labels)) != len(labels):
        raise ExportError("meta: residual_labels has duplicates")
    vocab = [_value_string(v) for v in _require(meta, "input_vocab", list)]
    n_heads = _require(meta, "n_heads", int)
    if n_heads <= 0:
        raise ExportError(f"meta: n_heads must be positive, got {n_heads}")
    encoder = _require(meta, "output_encoder", dict)
    if encoder.get("numerical") or "values" not in encoder:
        raise ExportError("meta: the output s-op is numerical (no value list); circuits decodes outputs by argmax "
                          "and supports categorical outputs only")
    if "name" not in encoder:
        raise ExportError("meta: output_encoder has no 'name'")
    output_name = str(encoder["name"])
    values = [_value_string(v) for v in encoder["values"]]
    if not values:
        raise ExportError("meta: output_encoder has an empty value list")

    D = len(labels)
    W_E = _array(params, "token_embed/embeddings", 2)
    W_pos = _array(params, "pos_embed/embeddings", 2)
    for key, a in (("token_embed/embeddings", W_E), ("pos_embed/embeddings", W_pos)):
        if a.shape[1] != D:
            raise ExportError(f"parameter '{key}' has shape {list(a.shape)}: {a.shape[1]} columns, but there are "
                              f"{D} residual labels")
    if W_E.shape[0] != len(vocab):
        raise ExportError(f"token_embed/embeddings has {W_E.shape[0]} rows, but input_vocab has {len(vocab)} tokens")
    n_ctx = W_pos.shape[0]
    bos = meta.get("bos_token")
    bos_index = -1
    if bos is not None:
        if _value_string(bos) not in vocab:
            raise ExportError(f"meta: bos_token {bos!r} is not in input_vocab")
        bos_index = vocab.index(_value_string(bos))
    # Tracr embeds positions 0 .. max_seq_len - 1 (some versions add a row); `circuits run` refuses
    # inputs longer than n_ctx, BOS included.
    if "max_seq_len" in meta and int(meta["max_seq_len"]) > n_ctx:
        raise ExportError(f"meta: max_seq_len {meta['max_seq_len']} is more than the {n_ctx} rows of "
                          "pos_embed/embeddings")

    layers = {}
    for key in params:
        if key in ("token_embed/embeddings", "pos_embed/embeddings"):
            continue
        m = LAYER_KEY.match(key)
        if not m:
            raise ExportError(f"unexpected parameter '{key}' (not in Tracr's naming)")
        layers.setdefault(int(m.group(1)), set()).add(key)
    n_layers = max(layers) + 1 if layers else 0

    def prefix(layer, part):
        return f"transformer/layer_{layer}/{part}"

    # Head sizes: queries and keys share Tracr's key_size, which also sets the logit scale.
    key_size, d_head, d_mlp = None, 1, 0
    for layer in range(n_layers):
        keys = layers.get(layer, set())
        if any("/attn/" in k for k in keys):
            for part in ("query", "key", "value"):
                w = _array(params, prefix(layer, f"attn/{part}/w"), 2)
                if w.shape[0] != D or w.shape[1] % n_heads:
                    raise ExportError(f"parameter '{prefix(layer, f'attn/{part}/w')}' has shape {list(w.shape)}, "
                                      f"expected [{D}, n_heads * size] with n_heads = {n_heads}")
                size = w.shape[1] // n_heads
                if part != "value":
                    if key_size not in (None, size):
                        raise ExportError(f"layer {layer}: key size {size} differs from {key_size} elsewhere")
                    key_size = size
                d_head = max(d_head, size)
        if any("/mlp/" in k for k in keys):
            w1 = _array(params, prefix(layer, "mlp/linear_1/w"), 2)
            d_mlp = max(d_mlp, w1.shape[1])

    H = n_heads
    tensors = {"embed.W_E": W_E, "pos_embed.W_pos": W_pos}
    mlp_nonzero = False
    for layer in range(n_layers):
        keys = layers.get(layer, set())
        p = f"blocks.{layer}."
        W = {name: np.zeros((H, D, d_head)) for name in ("W_Q", "W_K", "W_V")}
        b = {name: np.zeros((H, d_head)) for name in ("b_Q", "b_K", "b_V")}
        W_O, b_O = np.zeros((H, d_head, D)), np.zeros(D)
        if any("/attn/" in k for k in keys):
            for part, wn, bn in (("query", "W_Q", "b_Q"), ("key", "W_K", "b_K"), ("value", "W_V", "b_V")):
                w = _array(params, prefix(layer, f"attn/{part}/w"), 2)
                size = w.shape[1] // H
                W[wn][:, :, :size] = w.reshape(D, H, size).transpose(1, 0, 2)  # [D, (H size)] -> [H, D, size]
                bias_key = prefix(layer, f"attn/{part}/b")
                if bias_key in params:
                    bias = _array(params, bias_key, 1)
                    if bias.shape[0] != H * size:
                        raise ExportError(f"parameter '{bias_key}' has shape {list(bias.shape)}, expected [{H * size}]")
                    b[bn][:, :size] = bias.reshape(H, size)
            value_size = _array(params, prefix(layer, "attn/value/w"), 2).shape[1] // H
            lw = _array(params, prefix(layer, "attn/linear/w"), 2)
            if lw.shape != (H * value_size, D):
                raise ExportError(f"parameter '{prefix(layer, 'attn/linear/w')}' has shape {list(lw.shape)}, "
                                  f"expected [{H * value_size}, {D}]")
            W_O[:, :value_size, :] = lw.reshape(H, value_size, D)  # [(H size), D] -> [H, size, D]
            if prefix(layer, "attn/linear/b") in params:
                b_O = _array(params, prefix(layer, "attn/linear/b"), 1)
                if b_O.shape != (D,):
                    raise ExportError(f"parameter '{prefix(layer, 'attn/linear/b')}' has shape {list(b_O.shape)}, "
                                      f"expected [{D}]")
        for name in ("W_Q", "W_K", "W_V"):
            tensors[p + "attn." + name] = W[name]
        for name in ("b_Q", "b_K", "b_V"):
            tensors[p + "attn." + name] = b[name]
        tensors[p + "attn.W_O"], tensors[p + "attn.b_O"] = W_O, b_O

        W_in, b_in = np.zeros((D, max(d_mlp, 1))), np.zeros(max(d_mlp, 1))
        W_out, b_out = np.zeros((max(d_mlp, 1), D)), np.zeros(D)
        if any("/mlp/" in k for k in keys):
            w1 = _array(params, prefix(layer, "mlp/linear_1/w"), 2)
            w2 = _array(params, prefix(layer, "mlp/linear_2/w"), 2)
            hidden = w1.shape[1]
            if w1.shape[0] != D or w2.shape != (hidden, D):
                raise ExportError(f"layer {layer}: MLP weights of shapes {list(w1.shape)} and {list(w2.shape)}, "
                                  f"expected [{D}, hidden] and [hidden, {D}]")
            W_in[:, :hidden], W_out[:hidden, :] = w1, w2
            for key, target, n in (("mlp/linear_1/b", b_in, hidden), ("mlp/linear_2/b", b_out, D)):
                if prefix(layer, key) in params:
                    bias = _array(params, prefix(layer, key), 1)
                    if bias.shape != (n,):
                        raise ExportError(f"parameter '{prefix(layer, key)}' has shape {list(bias.shape)}, "
                                          f"expected [{n}]")
                    target[:n] = bias
            mlp_nonzero = mlp_nonzero or any(np.any(a != 0) for a in (W_in, b_in, W_out, b_out))
        tensors[p + "mlp.W_in"], tensors[p + "mlp.b_in"] = W_in, b_in
        tensors[p + "mlp.W_out"], tensors[p + "mlp.b_out"] = W_out, b_out
    if not mlp_nonzero:  # relu(0 x + 0) 0 + 0 adds nothing: drop the MLPs
        d_mlp = 0
        tensors = {k: v for k, v in tensors.items() if ".mlp." not in k}

    # Unembedding: Tracr projects the residual stream onto the output space and takes the argmax.
    W_U = np.zeros((D, len(values)))
    for j, value in enumerate(values):
        label = f"{output_name}:{value}"
        if label not in labels:
            raise ExportError(f"output label '{label}' is not among the residual labels")
        W_U[labels.index(label), j] = 1.0
    tensors["unembed.W_U"] = W_U
    tensors["unembed.b_U"] = np.zeros(len(values))
    for name, array in tensors.items():
        check_tensor(name, array, array.shape)

    if key_size is None:
        key_size = d_head
    attrs = {"n_layers": n_layers, "n_heads": H, "d_model": D, "d_head": d_head, "d_vocab": len(vocab),
             "d_vocab_out": len(values), "n_ctx": n_ctx, "d_mlp": d_mlp, "positional_embedding_type": "standard",
             "normalization_type": "none", "attn_scale": math.sqrt(key_size), "ln_eps": 1e-5,
             "causal": 1 if meta.get("causal", False) else 0, "act_fn": "relu", "origin": "compiled",
             "bos_token": bos_index}
    return dict(cfg=attrs, tensors=tensors, vocab=vocab, vocab_out=values, residual_labels=labels,
                program_source=meta.get("program_source"), output_sop=output_name)


def export(params, meta, output):
    """Writes the circuits model file `output` for Tracr parameters and META (see the top of this file)."""
    write_model(output, **convert(params, meta))


def export_assembled(model, output, output_name=None, program_source=None):
    """Writes the circuits model file `output` for a tracr AssembledTransformerModel (duck-typed: .params,
    .residual_labels, .input_encoder, .output_encoder, .model_config). The output s-op's name is inferred
    from the residual labels unless given."""
    params = {f"{module}/{name}": np.asarray(value) for module, d in model.params.items() for name, value in d.items()}
    inp, out = model.input_encoder, model.output_encoder
    if out is None or not hasattr(out, "encoding_map"):
        raise ExportError("the model's output is numerical; circuits supports categorical outputs only")
    by_index = lambda m: [v for v, _ in sorted(m.items(), key=lambda kv: kv[1])]  # noqa: E731
    values = by_index(out.encoding_map)
    labels = [str(s) for s in model.residual_labels]
    if output_name is None:
        names = {s.split(":", 1)[0] for s in labels if ":" in s}
        candidates = [n for n in sorted(names) if all(f"{n}:{_value_string(v)}" in labels for v in values)
                      and n not in ("tokens", "indices")]
        if len(candidates) != 1:
            raise ExportError(f"cannot tell the output s-op from the residual labels (candidates: {candidates}); "
                              "pass output_name")
        output_name = candidates[0]
    meta = {"residual_labels": labels, "input_vocab": by_index(inp.encoding_map), "bos_token": inp.bos_token,
            "output_encoder": {"name": output_name, "values": values}, "n_heads": model.model_config.num_heads,
            "causal": bool(model.model_config.causal)}
    if program_source:
        meta["program_source"] = program_source
    export(params, meta, output)


def _compile_program(spec, vocab, max_seq_len, bos, causal):
    import importlib.util

    try:
        from tracr.compiler import compiling
    except ImportError:
        raise ExportError("--program needs the tracr package, which is not installed") from None
    path, _, name = spec.rpartition(":")
    if not path or not name:
        raise ExportError(f"--program {spec!r}: expected FILE.py:NAME")
    module_spec = importlib.util.spec_from_file_location("rasp_program", path)
    if module_spec is None:
        raise ExportError(f"{path}: cannot load as a Python file")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, name):
        raise ExportError(f"{path} defines no '{name}'")
    program = getattr(module, name)
    model = compiling.compile_rasp_to_model(program, vocab=set(vocab), max_seq_len=max_seq_len, compiler_bos=bos,
                                            causal=causal)
    with open(path, encoding="utf-8") as f:
        source = f.read()
    return model, program.label, source


def main(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("params", nargs="?", help="Tracr parameters (.npz)")
    parser.add_argument("--meta", help="META.json describing labels, vocabularies and the output encoder")
    parser.add_argument("-o", "--output", required=True, help="circuits model file to write (.h5)")
    parser.add_argument("--program", help="FILE.py:NAME, a RASP program to compile with tracr")
    parser.add_argument("--vocab", help="with --program: the input vocabulary, comma-separated")
    parser.add_argument("--max-seq-len", type=int, help="with --program: the maximum input length")
    parser.add_argument("--bos", default="BOS", help="with --program: the BOS token (default BOS)")
    parser.add_argument("--causal", action="store_true", help="with --program: compile a causal model")
    args = parser.parse_args(argv)
    try:
        if args.program:
            if args.params or not args.vocab or not args.max_seq_len:
                raise ExportError("--program needs --vocab and --max-seq-len and no PARAMS.npz")
            # Tracr vocabularies hold Python values: "1" on the command line means the integer 1.
            vocab = [int(v) if re.fullmatch(r"-?\d+", v) else v for v in args.vocab.split(",")]
            model, name, source = _compile_program(args.program, vocab, args.max_seq_len, args.bos, args.causal)
            export_assembled(model, args.output, output_name=name, program_source=source)
        else:
            if not args.params or not args.meta:
                raise ExportError("give PARAMS.npz and --meta META.json (or --program)")
            try:
                with np.load(args.params, allow_pickle=False) as npz:
                    params = {key: npz[key] for key in npz.files}
            except (OSError, ValueError) as e:
                raise ExportError(f"{args.params}: cannot read as .npz: {e}") from None
            try:
                with open(args.meta, encoding="utf-8") as f:
                    meta = json.load(f)
            except OSError as e:
                raise ExportError(f"{args.meta}: cannot read: {e.strerror}") from None
            except ValueError as e:
                raise ExportError(f"{args.meta}: not valid JSON: {e}") from None
            if not isinstance(meta, dict):
                raise ExportError(f"{args.meta}: not a JSON object")
            try:
                export(params, meta, args.output)
            except ExportError as e:
                raise ExportError(f"{args.params} with {args.meta}: {e}") from None
    except ExportError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
