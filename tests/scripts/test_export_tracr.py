"""export_tracr.py on a hand-made parameter set in Tracr's naming: a previous-token head (plus a second,
random head, MLPs of different hidden sizes and an empty layer), checked against a forward pass in
Tracr's own parameter layout written here; the written file's W_U, labels, vocabularies and BOS;
the duck-typed export_assembled(); and the exporter's bad-input errors.

Usage: test_export_tracr.py PATH/TO/circuits
"""

import sys
sys.dont_write_bytecode = True  # nothing written into the source tree

import json
import math
import os
import tempfile
import types

from testlib import (check, circuits_json, circuits_ok, expect_error, finish, require_modules, run_script,
                     run_script_process, script)

require_modules("numpy", "h5py")
import h5py  # noqa: E402
import numpy as np  # noqa: E402

LOGIT_TOL = 1e-4
PATTERN_TOL = 1e-5

VOCAB = ["BOS", "a", "b", "c"]
MAX_SEQ_LEN = 5
N_CTX = MAX_SEQ_LEN + 1  # BOS included
LABELS = (["flag0", "flag2"] + [f"indices:{i}" for i in range(N_CTX)] + ["one", "prev:a", "prev:b", "prev:c"] +
          [f"tokens:{t}" for t in VOCAB])  # sorted, as Tracr sorts basis directions
OUTPUT = {"name": "prev", "values": ["c", "a", "b"]}  # decoding order differs from the residual order
H, K = 2, N_CTX  # heads, key_size
SHARP = 100.0    # attention logit of the planted match before the 1/sqrt(K) scaling


def at(label):
    return LABELS.index(label)


def make_params():
    """Tracr-named parameters: layer 0 = previous-token head + random head, MLP (hidden 2);
    layer 1 = zero attention, no MLP; layer 2 = no attention, MLP (hidden 3)."""
    rng = np.random.default_rng(7)
    D = len(LABELS)
    E = np.zeros((len(VOCAB), D))
    for i, t in enumerate(VOCAB):
        E[i, at(f"tokens:{t}")] = E[i, at("one")] = 1
    P = np.zeros((N_CTX, D))
    for p in range(N_CTX):
        P[p, at(f"indices:{p}")] = 1
    q, k, v, o = (np.zeros((D, H * K)), np.zeros((D, H * K)), np.zeros((D, H * K)), np.zeros((H * K, D)))
    for p in range(N_CTX):  # head 0: query at p meets key at p - 1
        q[at(f"indices:{p}"), p] = SHARP
        if p + 1 < K:
            k[at(f"indices:{p}"), p + 1] = 1
    for j, t in enumerate("abc"):  # head 0: copy the attended token into prev:*
        v[at(f"tokens:{t}"), j] = 1
        o[j, at(f"prev:{t}")] = 1
    q[:, K:] = rng.normal(0, 0.5, (D, K))  # head 1: random, writing weakly into prev:*
    k[:, K:] = rng.normal(0, 0.5, (D, K))
    v[:, K:] = rng.normal(0, 0.5, (D, K))
    for t in "abc":
        o[K:, at(f"prev:{t}")] = rng.normal(0, 0.02, K)
    w1, w2 = np.zeros((D, 2)), np.zeros((2, D))
    w1[at("tokens:a"), 0] = w1[at("one"), 1] = 1
    w2[0, at("flag0")] = w2[1, at("flag0")] = 1
    w1_2, w2_2 = np.zeros((D, 3)), np.zeros((3, D))
    w1_2[at("one"), 2], w2_2[2, at("flag2")] = 1, 1
    return {
        "token_embed/embeddings": E, "pos_embed/embeddings": P,
        "transformer/layer_0/attn/query/w": q, "transformer/layer_0/attn/query/b": rng.normal(0, 0.1, H * K),
        "transformer/layer_0/attn/key/w": k, "transformer/layer_0/attn/value/w": v,
        "transformer/layer_0/attn/value/b": np.zeros(H * K),
        "transformer/layer_0/attn/linear/w": o, "transformer/layer_0/attn/linear/b": np.zeros(D),
        "transformer/layer_0/mlp/linear_1/w": w1, "transformer/layer_0/mlp/linear_1/b": np.array([0.0, -0.5]),
        "transformer/layer_0/mlp/linear_2/w": w2, "transformer/layer_0/mlp/linear_2/b": np.zeros(D),
        "transformer/layer_1/attn/query/w": np.zeros((D, H * K)), "transformer/layer_1/attn/key/w": np.zeros((D, H * K)),
        "transformer/layer_1/attn/value/w": np.zeros((D, H * K)),
        "transformer/layer_1/attn/linear/w": np.zeros((H * K, D)),
        "transformer/layer_2/mlp/linear_1/w": w1_2, "transformer/layer_2/mlp/linear_2/w": w2_2,
    }


def make_meta():
    return {"residual_labels": LABELS, "input_vocab": VOCAB, "bos_token": "BOS", "output_encoder": OUTPUT,
            "max_seq_len": MAX_SEQ_LEN, "n_heads": H, "causal": False, "program_source": "prev = shift(tokens)\n"}


def tracr_forward(params, ids):
    """Tracr's forward pass on its own parameter layout: logits [T, n_out] and patterns {"L0H0": [T, T]}."""
    T = len(ids)
    x = params["token_embed/embeddings"][ids] + params["pos_embed/embeddings"][:T]
    get = lambda key, shape: params.get(key, np.zeros(shape))  # noqa: E731
    patterns = {}
    for layer in range(3):
        pre = f"transformer/layer_{layer}/"
        if pre + "attn/query/w" in params:
            proj = {}
            for part in ("query", "key", "value"):
                w = params[pre + f"attn/{part}/w"]
                proj[part] = (x @ w + get(pre + f"attn/{part}/b", w.shape[1])).reshape(T, H, -1)  # [T, H, K]
            logits = np.einsum("thd,Thd->htT", proj["query"], proj["key"]) / math.sqrt(K)
            weights = np.exp(logits - logits.max(-1, keepdims=True))
            weights /= weights.sum(-1, keepdims=True)
            for h in range(H):
                patterns[f"L{layer}H{h}"] = weights[h]
            z = np.einsum("htT,Thd->thd", weights, proj["value"]).reshape(T, -1)  # [T, (H K)]
            x = x + z @ params[pre + "attn/linear/w"] + get(pre + "attn/linear/b", x.shape[1])
        if pre + "mlp/linear_1/w" in params:
            w1, w2 = params[pre + "mlp/linear_1/w"], params[pre + "mlp/linear_2/w"]
            hidden = np.maximum(x @ w1 + get(pre + "mlp/linear_1/b", w1.shape[1]), 0)
            x = x + hidden @ w2 + get(pre + "mlp/linear_2/b", x.shape[1])
    out = np.stack([x[:, at(f"{OUTPUT['name']}:{v}")] for v in OUTPUT["values"]], axis=1)
    return out, patterns


def save(tmp, params, meta, stem="m"):
    npz, meta_path = os.path.join(tmp, stem + ".npz"), os.path.join(tmp, stem + ".json")
    np.savez(npz, **params)
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    return npz, meta_path


def test_export(tmp):
    params, meta = make_params(), make_meta()
    npz, meta_path = save(tmp, params, meta)
    out = os.path.join(tmp, "prev.h5")
    status, _, err = run_script("export_tracr", npz, "--meta", meta_path, "-o", out)
    check(status == 0, f"export failed: {err}")
    if status != 0:
        return
    with h5py.File(out, "r") as f:
        a = f.attrs
        check([s.decode() for s in f["residual_labels"][()]] == LABELS, "residual_labels")
        check([s.decode() for s in f["vocab"][()]] == VOCAB, "vocab")
        check([s.decode() for s in f["vocab_out"][()]] == OUTPUT["values"], "vocab_out")
        check(a["bos_token"] == 0, f"bos_token {a['bos_token']}")
        check(a["origin"] == "compiled", f"origin {a['origin']}")
        check(a["causal"] == 0 and a["normalization_type"] == "none" and a["positional_embedding_type"] == "standard",
              "causal / normalisation / positions")
        check(abs(a["attn_scale"] - math.sqrt(K)) < 1e-12, f"attn_scale {a['attn_scale']}")
        check((a["n_layers"], a["n_heads"], a["d_head"], a["d_model"], a["n_ctx"], a["d_mlp"]) ==
              (3, H, K, len(LABELS), N_CTX, 3), "dimensions")
        W_U = f["unembed/W_U"][()]
        want = np.zeros((len(LABELS), 3))
        for j, v in enumerate(OUTPUT["values"]):
            want[at(f"prev:{v}"), j] = 1
        check(np.array_equal(W_U, want), "W_U does not read the prev:* subspace in output order")
        check(not np.array_equal(W_U[:3], np.eye(3)), "W_U is an identity block")
        W_in0 = f["blocks/0/mlp/W_in"][()]
        check(W_in0.shape == (len(LABELS), 3) and not W_in0[:, 2].any() and W_in0[at("tokens:a"), 0] == 1,
              "layer 0 MLP not padded to d_mlp = 3")
        check(not any(f[f"blocks/1/mlp/{n}"][()].any() for n in ("W_in", "b_in", "W_out", "b_out")),
              "layer 1 (attention only) has MLP weights")
        check(not any(f[f"blocks/2/attn/{n}"][()].any() for n in ("W_Q", "W_K", "W_V", "W_O")),
              "layer 2 (MLP only) has attention weights")
        check(np.allclose(f["blocks/0/attn/W_Q"][1], params["transformer/layer_0/attn/query/w"][:, K:]),
              "head 1's W_Q is not the second block of query columns")
        check(np.allclose(f["blocks/0/attn/W_O"][1], params["transformer/layer_0/attn/linear/w"][K:]),
              "head 1's W_O is not the second block of linear rows")
        check(f["program/source"][()].decode() == meta["program_source"], "program source")
        check(f["program/output"][()].decode() == "prev", "program output")

    words = ["a", "b", "c", "a", "b"]
    result = circuits_json("run", out, *words, "--json", "--attention", "--logits")
    logits, patterns = tracr_forward(params, [VOCAB.index(w) for w in ["BOS"] + words])
    got = np.array(result["logits"])
    err = np.max(np.abs(got - logits[1:])) / max(1.0, np.max(np.abs(logits)))
    check(err <= LOGIT_TOL, f"logits differ from the Tracr-layout forward pass by {err:.2e}")
    for name, want_p in patterns.items():
        check(np.max(np.abs(np.array(result["attention"][name]) - want_p)) <= PATTERN_TOL, f"attention {name}")
    # Previous-token copying: from position 2 on, the prediction is the token before.
    predictions = circuits_ok("run", out, *words).split()
    check(predictions[1:] == words[:-1], f"predictions {predictions}: from position 1 on, expected {words[:-1]}")
    check(predictions == [OUTPUT["values"][int(np.argmax(row))] for row in logits[1:]], "predictions vs argmax")
    inspect = circuits_ok("inspect", out)
    for part in ("origin: compiled", "bos_token: 0 (BOS)", "output s-op: prev", "query indices; key indices; "
                 "value tokens -> writes prev"):
        check(part in inspect, f"inspect lacks {part!r}")

    # The same model through export_assembled(), with a stand-in for tracr's AssembledTransformerModel.
    nested = {}
    for key, value in params.items():
        module, name = key.rsplit("/", 1)
        nested.setdefault(module, {})[name] = value
    assembled = types.SimpleNamespace(
        params=nested, residual_labels=LABELS,
        input_encoder=types.SimpleNamespace(encoding_map={t: i for i, t in enumerate(VOCAB)}, bos_token="BOS"),
        output_encoder=types.SimpleNamespace(encoding_map={v: j for j, v in enumerate(OUTPUT["values"])}),
        model_config=types.SimpleNamespace(num_heads=H, causal=False))
    out2 = os.path.join(tmp, "assembled.h5")
    script("export_tracr").export_assembled(assembled, out2)
    check(circuits_ok("run", out2, *words, "--json", "--logits") == circuits_ok("run", out, *words, "--json", "--logits"),
          "export_assembled differs from the npz export")

    # With every MLP weight zero (Tracr fills unused MLP slots with zeros) the model is attention-only.
    zero_mlp = {k: (np.zeros_like(v) if "/mlp/" in k else v) for k, v in params.items()}
    npz3, meta3 = save(tmp, zero_mlp, meta, "zero_mlp")
    out3 = os.path.join(tmp, "zero_mlp.h5")
    status, _, err = run_script("export_tracr", npz3, "--meta", meta3, "-o", out3)
    check(status == 0, f"zero-MLP export failed: {err}")
    with h5py.File(out3, "r") as f:
        check(f.attrs["d_mlp"] == 0 and "mlp" not in f["blocks/0"], "all-zero MLPs were kept")
    check(circuits_ok("run", out3, *words) == circuits_ok("run", out, *words), "dropping zero MLPs changed outputs")

    # As a process, once: exit status 0 and the same file contents.
    out4 = os.path.join(tmp, "process.h5")
    status, stdout, err = run_script_process("export_tracr", npz, "--meta", meta_path, "-o", out4)
    check(status == 0 and "wrote" in stdout, f"process export failed ({status}): {err}")
    check(circuits_ok("inspect", out4).split("\n", 1)[1] == inspect.split("\n", 1)[1], "process export differs")


def test_bad_inputs(tmp):
    params, meta = make_params(), make_meta()
    out = os.path.join(tmp, "bad.h5")

    def attempt(label, params_=None, meta_=None, *parts):
        npz, meta_path = save(tmp, params if params_ is None else params_, meta if meta_ is None else meta_, "bad")
        expect_error("export_tracr", [npz, "--meta", meta_path, "-o", out], "bad.npz", *parts)
        check(not os.path.exists(out), f"{label}: an output was written")
        check(not [n for n in os.listdir(tmp) if ".tmp-" in n], f"{label}: a temporary file was left")

    attempt("output label", None, dict(meta, output_encoder={"name": "prev", "values": ["a", "d"]}),
            "output label 'prev:d' is not among the residual labels")
    attempt("numerical", None, dict(meta, output_encoder={"name": "frac", "numerical": True}), "numerical")
    attempt("no embedding", {k: v for k, v in params.items() if k != "token_embed/embeddings"}, None,
            "missing parameter 'token_embed/embeddings'")
    attempt("unexpected", dict(params, **{"transformer/layer_0/attn/rotary/w": np.zeros(2)}), None,
            "unexpected parameter 'transformer/layer_0/attn/rotary/w'")
    attempt("heads", None, dict(meta, n_heads=5), "transformer/layer_0/attn/query/w", "n_heads = 5")
    attempt("no labels", None, {k: v for k, v in meta.items() if k != "residual_labels"},
            "missing key 'residual_labels'")
    attempt("labels count", None, dict(meta, residual_labels=LABELS[:-1]), "columns", f"{len(LABELS) - 1} residual")
    attempt("bos", None, dict(meta, bos_token="<s>"), "bos_token '<s>' is not in input_vocab")
    attempt("vocab count", None, dict(meta, input_vocab=VOCAB + ["d"]), "input_vocab has 5 tokens")
    nan = dict(params)
    nan["transformer/layer_2/mlp/linear_2/w"] = params["transformer/layer_2/mlp/linear_2/w"].copy()
    nan["transformer/layer_2/mlp/linear_2/w"][2, 0] = np.inf
    attempt("inf", nan, None, "tensor 'blocks.2.mlp.W_out' has a non-finite value inf at [2, 0]")
    mlp = {k: v for k, v in params.items() if k != "transformer/layer_2/mlp/linear_2/w"}
    attempt("half an MLP", mlp, None, "missing parameter 'transformer/layer_2/mlp/linear_2/w'")

    npz, _ = save(tmp, params, meta, "ok")
    expect_error("export_tracr", [npz, "-o", out], "--meta")
    with open(os.path.join(tmp, "broken.json"), "w") as f:
        f.write("{")
    expect_error("export_tracr", [npz, "--meta", os.path.join(tmp, "broken.json"), "-o", out], "not valid JSON")
    with open(os.path.join(tmp, "notnpz.npz"), "w") as f:
        f.write("hello")
    expect_error("export_tracr", [os.path.join(tmp, "notnpz.npz"), "--meta", os.path.join(tmp, "ok.json"), "-o", out],
                 "notnpz.npz", "cannot read as .npz")
    status, _, err = run_script_process("export_tracr", npz, "--meta", os.path.join(tmp, "absent.json"), "-o", out)
    check(status == 1 and err.startswith("export_tracr: error: ") and "absent.json" in err,
          f"absent meta as a process: {status} {err!r}")
    check(not os.path.exists(out), "an output was written")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for test in (test_export, test_bad_inputs):
            sub = os.path.join(tmp, test.__name__)
            os.makedirs(sub)
            test(sub)
    finish()


if __name__ == "__main__":
    main()
