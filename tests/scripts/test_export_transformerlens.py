"""TransformerLens state dicts: export_transformerlens.py (-> .h5) and the safetensors reader agree with
each other and with a forward pass written here in torch; the exporter's bad-input errors.

Usage: test_export_transformerlens.py PATH/TO/circuits
"""

import sys
sys.dont_write_bytecode = True  # nothing written into the source tree

import json
import math
import os
import struct
import tempfile
import types

from testlib import (check, circuits_json, circuits_ok, expect_error, finish, require_modules, run_circuits,
                     run_script, run_script_process, script)

require_modules("numpy", "torch", "h5py")
import numpy as np  # noqa: E402
import torch  # noqa: E402

LOGIT_TOL = 1e-4  # relative to max(1, max |logit|): float32 in C++ vs float64 here
PATTERN_TOL = 1e-5

# TransformerLens configs (as JSON), chosen to cover LN / LNPre / none, standard / shortformer,
# attention-only / MLP (gelu, relu), causal / bidirectional, attention scales, non-square shapes
# (d_model != n_heads d_head, d_vocab != d_vocab_out), and TransformerLens defaults (n_heads = -1).
CONFIGS = [
    {"n_layers": 2, "d_model": 12, "d_head": 5, "n_heads": 3, "n_ctx": 10, "d_vocab": 11, "d_vocab_out": 7,
     "normalization_type": "LN", "positional_embedding_type": "standard", "attn_only": True, "act_fn": None,
     "d_mlp": None, "model_name": "custom", "device": "cpu", "seed": 1, "default_prepend_bos": True,
     "vocab": ["<bos>", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j"], "bos_token": "<bos>"},
    {"n_layers": 2, "d_model": 10, "d_head": 3, "n_heads": 2, "n_ctx": 8, "d_vocab": 9, "d_vocab_out": 9,
     "normalization_type": None, "positional_embedding_type": "shortformer", "attn_only": True,
     "attention_dir": "bidirectional"},
    {"n_layers": 1, "d_model": 8, "d_head": 4, "n_heads": 2, "n_ctx": 7, "d_vocab": 6, "d_vocab_out": 5,
     "normalization_type": "LNPre", "positional_embedding_type": "standard", "attn_only": False, "d_mlp": 20,
     "act_fn": "gelu", "use_attn_scale": True, "attn_scale": 3.0, "eps": 1e-4},
    {"n_layers": 2, "d_model": 12, "d_head": 4, "n_heads": -1, "n_ctx": 9, "d_vocab": 10, "d_vocab_out": -1,
     "normalization_type": "LN", "positional_embedding_type": "shortformer", "d_mlp": 16, "act_fn": "relu",
     "use_attn_scale": False},
]


def resolved(cfg):
    """The config with TransformerLens's defaults filled in."""
    c = dict(cfg)
    c["n_heads"] = c["d_model"] // c["d_head"] if c.get("n_heads", -1) == -1 else c["n_heads"]
    c["d_vocab_out"] = c["d_vocab"] if c.get("d_vocab_out", -1) == -1 else c["d_vocab_out"]
    c["d_mlp"] = 0 if c.get("attn_only") else (c.get("d_mlp") or 4 * c["d_model"])
    if not c.get("use_attn_scale", True):
        c["scale"] = 1.0
    else:
        c["scale"] = c["attn_scale"] if c.get("attn_scale", -1) > 0 else math.sqrt(c["d_head"])
    c["causal"] = c.get("attention_dir", "causal") == "causal"
    c["eps"] = c.get("eps", 1e-5)
    return c


def make_state(cfg, seed):
    """A random state dict with TransformerLens names and shapes, buffers included."""
    c = resolved(cfg)
    g = torch.Generator().manual_seed(seed)
    D, H, dh, L = c["d_model"], c["n_heads"], c["d_head"], c["n_layers"]

    def randn(*shape, std=0.5, mean=0.0):
        return torch.randn(*shape, generator=g) * std + mean

    s = {"embed.W_E": randn(c["d_vocab"], D, std=1.0), "pos_embed.W_pos": randn(c["n_ctx"], D)}
    for layer in range(L):
        p = f"blocks.{layer}."
        if c["normalization_type"] == "LN":
            s[p + "ln1.w"], s[p + "ln1.b"] = randn(D, std=0.2, mean=1.0), randn(D, std=0.1)
        for name in ("W_Q", "W_K", "W_V"):
            s[p + "attn." + name] = randn(H, D, dh)
        s[p + "attn.W_O"] = randn(H, dh, D)
        for name in ("b_Q", "b_K", "b_V"):
            s[p + "attn." + name] = randn(H, dh, std=0.1)
        s[p + "attn.b_O"] = randn(D, std=0.1)
        s[p + "attn.mask"] = torch.tril(torch.ones(c["n_ctx"], c["n_ctx"])).bool()
        s[p + "attn.IGNORE"] = torch.tensor(-float("inf"))
        if c["d_mlp"]:
            if c["normalization_type"] == "LN":
                s[p + "ln2.w"], s[p + "ln2.b"] = randn(D, std=0.2, mean=1.0), randn(D, std=0.1)
            s[p + "mlp.W_in"], s[p + "mlp.b_in"] = randn(D, c["d_mlp"]), randn(c["d_mlp"], std=0.1)
            s[p + "mlp.W_out"], s[p + "mlp.b_out"] = randn(c["d_mlp"], D), randn(D, std=0.1)
    if c["normalization_type"] == "LN":
        s["ln_final.w"], s["ln_final.b"] = randn(D, std=0.2, mean=1.0), randn(D, std=0.1)
    s["unembed.W_U"], s["unembed.b_U"] = randn(D, c["d_vocab_out"]), randn(c["d_vocab_out"], std=0.1)
    if c["positional_embedding_type"] == "none":
        del s["pos_embed.W_pos"]
    return s


def tl_forward(state, cfg, tokens):
    """Logits [T, d_vocab_out] and patterns {"L0H0": [T, T]} of TransformerLens's forward pass, in float64."""
    c = resolved(cfg)
    d = {k: v.double() for k, v in state.items() if v.dtype != torch.bool}
    T = len(tokens)
    x = d["embed.W_E"][tokens]
    pos = d["pos_embed.W_pos"][:T] if "pos_embed.W_pos" in d else None
    if c["positional_embedding_type"] == "standard":
        x = x + pos

    def norm(v, prefix):
        if c["normalization_type"] not in ("LN", "LNPre"):
            return v
        v = v - v.mean(-1, keepdim=True)
        v = v / (v.pow(2).mean(-1, keepdim=True) + c["eps"]).sqrt()
        return v * d[prefix + ".w"] + d[prefix + ".b"] if c["normalization_type"] == "LN" else v

    patterns = {}
    for layer in range(c["n_layers"]):
        p = f"blocks.{layer}."
        xn = norm(x, p + "ln1")
        qk_in = xn + pos if c["positional_embedding_type"] == "shortformer" else xn
        q = torch.einsum("td,hde->hte", qk_in, d[p + "attn.W_Q"]) + d[p + "attn.b_Q"][:, None, :]
        k = torch.einsum("td,hde->hte", qk_in, d[p + "attn.W_K"]) + d[p + "attn.b_K"][:, None, :]
        v = torch.einsum("td,hde->hte", xn, d[p + "attn.W_V"]) + d[p + "attn.b_V"][:, None, :]
        scores = q @ k.transpose(-1, -2) / c["scale"]  # [H, T query, T key]
        if c["causal"]:
            scores = scores.masked_fill(torch.triu(torch.ones(T, T), 1).bool(), -float("inf"))
        pattern = torch.softmax(scores, -1)
        for h in range(c["n_heads"]):
            patterns[f"L{layer}H{h}"] = pattern[h].numpy()
        x = x + torch.einsum("hte,hed->td", pattern @ v, d[p + "attn.W_O"]) + d[p + "attn.b_O"]
        if c["d_mlp"]:
            hidden = norm(x, p + "ln2") @ d[p + "mlp.W_in"] + d[p + "mlp.b_in"]
            hidden = torch.nn.functional.gelu(hidden) if c["act_fn"] == "gelu" else torch.relu(hidden)
            x = x + hidden @ d[p + "mlp.W_out"] + d[p + "mlp.b_out"]
    return (norm(x, "ln_final") @ d["unembed.W_U"] + d["unembed.b_U"]).numpy(), patterns


def write_safetensors(path, state):
    """The safetensors format by hand: 8-byte little-endian header length, JSON header, raw data."""
    header, data = {}, b""
    for name in sorted(state):
        t = state[name]
        dtype, raw = ("BOOL", t.numpy().astype(np.uint8).tobytes()) if t.dtype == torch.bool else \
            ("F32", t.numpy().astype("<f4").tobytes())
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def tokens_for(cfg, seed):
    c = resolved(cfg)
    rng = np.random.default_rng(seed)
    bos = "bos_token" in cfg
    n = c["n_ctx"] - (1 if bos else 0)
    return [int(t) for t in rng.integers(1 if bos else 0, c["d_vocab"], size=n)]


def vocab_of(cfg):
    return cfg.get("vocab") or [str(i) for i in range(cfg["d_vocab"])]


def compare_with_torch(label, result, state, cfg, ids):
    """Checks circuits run --json --attention --logits output against the torch forward pass."""
    c = resolved(cfg)
    bos = [vocab_of(cfg).index(cfg["bos_token"])] if "bos_token" in cfg else []
    logits, patterns = tl_forward(state, cfg, bos + ids)
    logits = logits[len(bos):]
    got = np.array(result["logits"])
    check(got.shape == logits.shape, f"{label}: logits shape {got.shape} vs {logits.shape}")
    if got.shape == logits.shape:
        err = np.max(np.abs(got - logits)) / max(1.0, np.max(np.abs(logits)))
        check(err <= LOGIT_TOL, f"{label}: logits differ from torch by {err:.2e} (relative)")
    vocab_out = vocab_of(cfg) if c["d_vocab_out"] == c["d_vocab"] else [str(i) for i in range(c["d_vocab_out"])]
    for i, row in enumerate(logits):
        top2 = np.sort(row)[-2:]
        if top2[1] - top2[0] > 1e-3:  # an unambiguous argmax
            check(result["predictions"][i] == vocab_out[int(np.argmax(row))], f"{label}: prediction {i}")
    for name, want in patterns.items():
        got_p = np.array(result["attention"][name])
        check(got_p.shape == want.shape and np.max(np.abs(got_p - want)) <= PATTERN_TOL,
              f"{label}: attention {name} differs from torch")


def test_exports_agree(tmp):
    exporter = script("export_transformerlens")
    for index, cfg in enumerate(CONFIGS):
        label = f"config {index}"
        folder = os.path.join(tmp, f"m{index}")
        os.makedirs(folder)
        state = make_state(cfg, seed=100 + index)
        torch.save(state, os.path.join(folder, "state.pt"))
        config_path = os.path.join(folder, "config.json")
        with open(config_path, "w") as f:
            json.dump(cfg, f)
        write_safetensors(os.path.join(folder, "model.safetensors"), state)
        h5 = os.path.join(folder, "model.h5")
        argv = [os.path.join(folder, "state.pt"), "--config", config_path, "-o", h5]
        if index == 1:  # the vocabulary and BOS from the command line instead of the config
            cfg_cli = dict(cfg, vocab=[f"w{i}" for i in range(cfg["d_vocab"])], bos_token="w0")
            with open(os.path.join(folder, "vocab.txt"), "w") as f:
                f.write("\n".join(cfg_cli["vocab"]) + "\n")
            argv += ["--vocab", os.path.join(folder, "vocab.txt"), "--bos-token", "w0"]
            with open(config_path, "w") as f:  # the safetensors reader takes them from config.json
                json.dump(cfg_cli, f)
            cfg = cfg_cli
        status, _, err = run_script("export_transformerlens", *argv)
        check(status == 0, f"{label}: export failed: {err}")
        if status != 0:
            continue
        ids = tokens_for(cfg, seed=index)
        words = [vocab_of(cfg)[i] for i in ids]
        st = os.path.join(folder, "model.safetensors")
        out_h5 = circuits_ok("run", h5, *words, "--json", "--attention", "--logits")
        out_st = circuits_ok("run", st, *words, "--json", "--attention", "--logits")
        check(out_h5 == out_st, f"{label}: run --json differs between .h5 and .safetensors")
        check(circuits_ok("run", h5, *words) == circuits_ok("run", st, *words), f"{label}: run differs")
        inspect_h5, inspect_st = circuits_ok("inspect", h5), circuits_ok("inspect", st)
        check(inspect_h5.split("\n", 1)[1] == inspect_st.split("\n", 1)[1], f"{label}: inspect differs")
        compare_with_torch(label, json.loads(out_h5), state, cfg, ids)

        if index == 0:
            # A HookedTransformer-like object: state_dict(), cfg.to_dict() and a tokenizer.
            tokenizer = types.SimpleNamespace(
                convert_ids_to_tokens=lambda ids_: [f"t{i}" if i < 10 else None for i in ids_], bos_token_id=0)
            model = types.SimpleNamespace(state_dict=lambda: state, tokenizer=tokenizer,
                                          cfg=types.SimpleNamespace(to_dict=lambda: {k: v for k, v in cfg.items()
                                                                                     if k not in ("vocab", "bos_token")}))
            ht = os.path.join(folder, "hooked.h5")
            exporter.export_hooked_transformer(model, ht)
            vocab = [f"t{i}" for i in range(10)] + ["10"]
            out_ht = circuits_json("run", ht, *[vocab[i] for i in ids], "--json", "--logits")
            check(out_ht["logits"] == json.loads(out_h5)["logits"], f"{label}: HookedTransformer export differs")
            check("bos_token: 0 (t0)" in circuits_ok("inspect", ht), f"{label}: tokenizer BOS not used")


def test_bad_inputs(tmp):
    cfg = CONFIGS[0]
    state = make_state(cfg, seed=5)
    out = os.path.join(tmp, "bad.h5")

    def attempt(label, state_=None, cfg_=None, extra=(), *parts):
        sd, cj = os.path.join(tmp, "bad.pt"), os.path.join(tmp, "bad.json")
        torch.save(state if state_ is None else state_, sd)
        with open(cj, "w") as f:
            f.write(cfg_ if isinstance(cfg_, str) else json.dumps(cfg if cfg_ is None else cfg_))
        err = expect_error("export_transformerlens", [sd, "--config", cj, "-o", out, *extra], *parts)
        check(not os.path.exists(out), f"{label}: an output was written")
        check(not [n for n in os.listdir(tmp) if ".tmp-" in n], f"{label}: a temporary file was left")
        return err

    attempt("missing tensor", {k: v for k, v in state.items() if k != "blocks.1.attn.W_K"}, None, (),
            "missing tensor 'blocks.1.attn.W_K' of shape [3, 12, 5]", "bad.pt")
    attempt("wrong shape", dict(state, **{"blocks.0.attn.W_Q": torch.zeros(3, 12, 6)}), None, (),
            "tensor 'blocks.0.attn.W_Q' has shape [3, 12, 6], expected [3, 12, 5]")
    attempt("unknown tensor", dict(state, **{"blocks.0.attn.W_extra": torch.zeros(2)}), None, (),
            "'blocks.0.attn.W_extra' does not belong")
    nan = dict(state)
    nan["unembed.W_U"] = state["unembed.W_U"].clone()
    nan["unembed.W_U"][3, 2] = float("nan")
    attempt("NaN", nan, None, (), "tensor 'unembed.W_U' has a non-finite value nan at [3, 2]")
    attempt("missing key", None, {k: v for k, v in cfg.items() if k != "n_layers"}, (), "missing key 'n_layers'")
    attempt("RMS", None, dict(cfg, normalization_type="RMS"), (), "normalization_type 'RMS' is not supported")
    attempt("rotary", None, dict(cfg, positional_embedding_type="rotary"), (), "'rotary' is not supported")
    attempt("gated", None, dict(cfg, gated_mlp=True), (), "'gated_mlp' = true is not supported")
    attempt("bad JSON", None, "{\"n_layers\": 2,", (), "not valid JSON")
    attempt("bad BOS", None, dict(cfg, bos_token="<nope>"), (), "'<nope>' is not in the vocabulary")
    with open(os.path.join(tmp, "short_vocab.txt"), "w") as f:
        f.write("a\nb\n")
    attempt("vocab size", None, None, ("--vocab", os.path.join(tmp, "short_vocab.txt")),
            "vocabulary has 2 tokens, expected d_vocab = 11")

    torch.save(state, os.path.join(tmp, "s.pt"))
    expect_error("export_transformerlens", [os.path.join(tmp, "s.pt"), "-o", out], "--config")
    with open(os.path.join(tmp, "text.pt"), "w") as f:
        f.write("not a torch file\n")
    expect_error("export_transformerlens", [os.path.join(tmp, "text.pt"), "--config", os.path.join(tmp, "bad.json"),
                                            "-o", out], "text.pt")
    # As a process: a missing input file gives status 1 and the message.
    status, _, err = run_script_process("export_transformerlens", os.path.join(tmp, "absent.pt"), "-o", out)
    check(status == 1, f"absent input: status {status}")
    check(err.startswith("export_transformerlens: error: ") and "absent.pt" in err, f"absent input: {err!r}")
    check(not os.path.exists(out), "absent input: an output was written")


def test_safetensors_cli_errors(tmp):
    """A broken .safetensors through the circuits CLI: status 1, 'circuits: error:', file and tensor named."""
    cfg = CONFIGS[2]
    state = make_state(cfg, seed=9)
    state["blocks.0.mlp.W_in"][1, 2] = float("inf")
    path = os.path.join(tmp, "broken", "model.safetensors")
    os.makedirs(os.path.dirname(path))
    write_safetensors(path, state)
    with open(os.path.join(tmp, "broken", "config.json"), "w") as f:
        json.dump(cfg, f)
    status, _, err = run_circuits("inspect", path)
    check(status == 1, f"broken safetensors: status {status}")
    check(err.startswith("circuits: error: ") and path in err and "blocks.0.mlp.W_in" in err,
          f"broken safetensors: {err!r}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for test in (test_exports_agree, test_bad_inputs, test_safetensors_cli_errors):
            sub = os.path.join(tmp, test.__name__)
            os.makedirs(sub)
            test(sub)
    finish()


if __name__ == "__main__":
    main()
