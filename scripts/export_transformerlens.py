#!/usr/bin/python3
"""Exports a TransformerLens model to a circuits model file (HDF5, origin = imported).

Usage:
    export_transformerlens.py STATE_DICT.pt --config CONFIG.json -o MODEL.h5 [--vocab FILE]
                              [--vocab-out FILE] [--bos-token TOKEN]
    export_transformerlens.py MODEL_NAME -o MODEL.h5           (needs transformer_lens; loaded without
                              TransformerLens's weight processing: fold_ln etc. are left to circuits)
    export_transformerlens.py SAVED_MODEL.pt --unsafe-pickle -o MODEL.h5
                              (a whole HookedTransformer saved with torch.save; unpickling runs code,
                              so only for files you trust; needs transformer_lens)

STATE_DICT.pt is `torch.save(model.state_dict(), ...)`: tensors named as in TransformerLens
(embed.W_E [d_vocab, d_model], pos_embed.W_pos [n_ctx, d_model], blocks.L.ln1.w/b,
blocks.L.attn.W_Q/W_K/W_V [n_heads, d_model, d_head], W_O [n_heads, d_head, d_model],
b_Q/b_K/b_V [n_heads, d_head], b_O [d_model], blocks.L.ln2.w/b, blocks.L.mlp.W_in/b_in/W_out/b_out,
ln_final.w/b, unembed.W_U [d_model, d_vocab_out], unembed.b_U). Missing biases are zeros; the
buffers blocks.L.attn.mask and blocks.L.attn.IGNORE are skipped; any other tensor the config does
not call for is an error.

CONFIG.json holds HookedTransformerConfig keys (what `model.cfg.to_dict()` gives, as JSON):
n_layers, d_model, d_head, n_ctx (required), n_heads (-1 or absent: d_model // d_head), d_vocab
(-1 or absent: rows of embed.W_E), d_vocab_out (-1 or absent: d_vocab), attn_only, d_mlp (null:
4 d_model unless attn_only), act_fn (relu | gelu), normalization_type (null | LN | LNPre),
positional_embedding_type (standard | shortformer), attention_dir (causal | bidirectional),
use_attn_scale, attn_scale (-1 or absent: sqrt(d_head)), eps. Options a circuits model cannot
express (rotary, RMS norms, gated or parallel MLPs, local attention, soft caps, ...) are errors.
Optional keys of ours: "vocab" and "vocab_out" (lists of strings), "bos_token" (index or token).
The same config.json read beside a .safetensors file by `circuits` gives the same model.

Vocabularies: --vocab / --vocab-out files (UTF-8, one token per line) or the config's lists; else
a HookedTransformer's tokenizer; else "0", "1", .... vocab_out defaults to vocab when both have
the same size. --bos-token names the token `circuits run` prepends (by string, or by index).

Errors (missing or misshapen tensors, bad config, unreadable files) print
"export_transformerlens: error: ..." and exit with status 1; nothing is written then.
"""

import argparse
import json
import math
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from circuits_h5 import ExportError, read_lines, write_model  # noqa: E402

PROG = "export_transformerlens"

# TransformerLens options that change the computation in ways a circuits model cannot express.
UNSUPPORTED_TRUE = ("final_rms", "parallel_attn_mlp", "gated_mlp", "use_local_attn", "scale_attn_by_inverse_layer_idx",
                    "post_embedding_ln", "use_normalization_before_and_after", "use_qk_norm")
UNSUPPORTED_POSITIVE = ("attn_scores_soft_cap", "output_logits_soft_cap")
UNSUPPORTED_SET = ("num_experts", "n_key_value_heads")

IGNORED_BUFFERS = re.compile(r"^blocks\.\d+\.attn\.(mask|IGNORE)$")


def _get(cfg, key, default=None):
    """cfg[key], with null treated as absent."""
    value = cfg.get(key)
    return default if value is None else value


def _integer(cfg, key, default=None):
    value = _get(cfg, key, default)
    if value is None:
        raise ExportError(f"config: missing key '{key}'")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ExportError(f"config: '{key}' should be an integer, got {value!r}")
    return int(value)


def _boolean(cfg, key, default):
    value = _get(cfg, key, default)
    if not isinstance(value, bool):
        raise ExportError(f"config: '{key}' should be true or false, got {value!r}")
    return value


def model_config(cfg, state):
    """The circuits root attributes for a TransformerLens config dict and its state dict (numpy arrays)."""
    for key in UNSUPPORTED_TRUE:
        if _get(cfg, key, False) is True:
            raise ExportError(f"config: '{key}' = true is not supported by circuits")
    for key in UNSUPPORTED_POSITIVE:
        value = _get(cfg, key, -1.0)
        if isinstance(value, (int, float)) and value > 0:
            raise ExportError(f"config: '{key}' > 0 is not supported by circuits")
    for key in UNSUPPORTED_SET:
        if _get(cfg, key) is not None:
            raise ExportError(f"config: '{key}' is set; mixture-of-experts and grouped-query attention "
                              "are not supported")
    out = {key: _integer(cfg, key) for key in ("n_layers", "d_model", "d_head", "n_ctx")}
    n_heads = _integer(cfg, "n_heads", -1)
    out["n_heads"] = out["d_model"] // out["d_head"] if n_heads == -1 and out["d_head"] > 0 else n_heads
    d_vocab = _integer(cfg, "d_vocab", -1)
    if d_vocab == -1:
        if "embed.W_E" not in state or state["embed.W_E"].ndim != 2:
            raise ExportError("config: 'd_vocab' is not set and there is no 2-D embed.W_E to infer it from")
        d_vocab = state["embed.W_E"].shape[0]
    out["d_vocab"] = d_vocab
    d_vocab_out = _integer(cfg, "d_vocab_out", -1)
    out["d_vocab_out"] = d_vocab if d_vocab_out == -1 else d_vocab_out
    out["act_fn"] = _get(cfg, "act_fn", "relu")
    if _boolean(cfg, "attn_only", False):
        out["d_mlp"] = 0
    else:
        out["d_mlp"] = _integer(cfg, "d_mlp", 4 * out["d_model"])
        if out["act_fn"] not in ("relu", "gelu"):
            raise ExportError(f"config: act_fn '{out['act_fn']}' is not supported (relu or gelu)")
    norm = _get(cfg, "normalization_type", "none")
    if norm not in ("none", "LN", "LNPre"):
        raise ExportError(f"config: normalization_type '{norm}' is not supported (null, LN or LNPre)")
    out["normalization_type"] = norm
    pos = _get(cfg, "positional_embedding_type", "standard")
    if pos not in ("standard", "shortformer", "none"):
        raise ExportError(f"config: positional_embedding_type '{pos}' is not supported (standard or shortformer)")
    out["positional_embedding_type"] = pos
    direction = _get(cfg, "attention_dir", "causal")
    if direction not in ("causal", "bidirectional"):
        raise ExportError(f"config: attention_dir should be causal or bidirectional, got '{direction}'")
    out["causal"] = 1 if direction == "causal" else 0
    # TransformerLens divides attention scores by attn_scale (default sqrt(d_head)), by 1 without use_attn_scale.
    scale = _get(cfg, "attn_scale", -1.0)
    if not _boolean(cfg, "use_attn_scale", True):
        out["attn_scale"] = 1.0
    elif isinstance(scale, (int, float)) and scale > 0:
        out["attn_scale"] = float(scale)
    else:
        out["attn_scale"] = math.sqrt(out["d_head"]) if out["d_head"] > 0 else 1.0
    out["ln_eps"] = float(_get(cfg, "eps", 1e-5))
    out["origin"] = "imported"
    out["bos_token"] = -1
    return out


def _strings(cfg, key):
    value = cfg.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ExportError(f"config: '{key}' should be a list of strings")
    return value


def convert(state, cfg, vocab=None, vocab_out=None, bos_token=None):
    """TransformerLens state dict (name -> numpy array) + config dict -> (root attributes, tensors, vocab, vocab_out).

    vocab / vocab_out / bos_token override the config's "vocab", "vocab_out" and "bos_token" keys.
    """
    attrs = model_config(cfg, state)
    tensors = {name: np.asarray(value) for name, value in state.items() if not IGNORED_BUFFERS.match(name)}
    vocab = vocab if vocab is not None else _strings(cfg, "vocab")
    vocab_out = vocab_out if vocab_out is not None else _strings(cfg, "vocab_out")
    if vocab is None:
        vocab = [str(i) for i in range(attrs["d_vocab"])]
    if len(vocab) != attrs["d_vocab"]:
        raise ExportError(f"the vocabulary has {len(vocab)} tokens, expected d_vocab = {attrs['d_vocab']}")
    if vocab_out is None:
        vocab_out = vocab if attrs["d_vocab_out"] == attrs["d_vocab"] else [str(i) for i in range(attrs["d_vocab_out"])]
    if len(vocab_out) != attrs["d_vocab_out"]:
        raise ExportError(f"the output vocabulary has {len(vocab_out)} tokens, expected d_vocab_out = "
                          f"{attrs['d_vocab_out']}")
    bos = bos_token if bos_token is not None else cfg.get("bos_token")
    if bos is not None:
        if isinstance(bos, str) and bos in vocab:
            attrs["bos_token"] = vocab.index(bos)
        elif isinstance(bos, int) or (isinstance(bos, str) and bos.isdigit()):
            attrs["bos_token"] = int(bos)
            if not 0 <= attrs["bos_token"] < attrs["d_vocab"]:
                raise ExportError(f"bos token index {bos} outside [0, d_vocab = {attrs['d_vocab']})")
        else:
            raise ExportError(f"bos token {bos!r} is not in the vocabulary")
    return attrs, tensors, vocab, vocab_out


def export(state, cfg, output, vocab=None, vocab_out=None, bos_token=None):
    """Writes the circuits model file `output` for a state dict (numpy arrays) and a TransformerLens config dict."""
    attrs, tensors, vocab, vocab_out = convert(state, cfg, vocab, vocab_out, bos_token)
    write_model(output, attrs, tensors, vocab, vocab_out)


def export_hooked_transformer(model, output, vocab=None, vocab_out=None, bos_token=None):
    """Writes the circuits model file `output` for a transformer_lens.HookedTransformer (or anything with
    .state_dict(), .cfg.to_dict() and optionally .tokenizer)."""
    state = {name: value.detach().cpu().float().numpy() for name, value in model.state_dict().items()}
    cfg = dict(model.cfg.to_dict())
    tokenizer = getattr(model, "tokenizer", None)
    if vocab is None and tokenizer is not None:
        d_vocab = cfg.get("d_vocab") or state["embed.W_E"].shape[0]
        tokens = tokenizer.convert_ids_to_tokens(list(range(d_vocab)))
        vocab = [t if t is not None else str(i) for i, t in enumerate(tokens)]
        if bos_token is None and cfg.get("default_prepend_bos", True) and tokenizer.bos_token_id is not None:
            bos_token = int(tokenizer.bos_token_id)
    export(state, cfg, output, vocab, vocab_out, bos_token)


def _load_torch_file(path, unsafe_pickle):
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as e:
        if not unsafe_pickle:
            raise ExportError(f"{path}: not a plain state dict ({str(e).splitlines()[0]}); if it is a whole "
                              "HookedTransformer saved with torch.save and you trust the file, pass "
                              "--unsafe-pickle") from None
    except Exception as e:  # zip or pickle corruption surfaces as many exception types
        raise ExportError(f"{path}: not a file written by torch.save ({type(e).__name__}: {e})") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise ExportError(f"{path}: cannot unpickle: {e}") from None


def main(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="state dict (.pt), saved HookedTransformer, or a model name")
    parser.add_argument("-o", "--output", required=True, help="circuits model file to write (.h5)")
    parser.add_argument("--config", help="TransformerLens config as JSON (needed for a state dict)")
    parser.add_argument("--vocab", help="input vocabulary, one token per line")
    parser.add_argument("--vocab-out", help="output vocabulary, one token per line")
    parser.add_argument("--bos-token", help="the BOS token (string in the vocabulary, or index)")
    parser.add_argument("--unsafe-pickle", action="store_true", help="allow unpickling a whole saved model")
    args = parser.parse_args(argv)
    try:
        vocab = read_lines(args.vocab) if args.vocab else None
        vocab_out = read_lines(args.vocab_out) if args.vocab_out else None
        if os.path.exists(args.input):
            obj = _load_torch_file(args.input, args.unsafe_pickle)
            if isinstance(obj, dict):
                if not args.config:
                    raise ExportError(f"{args.input} is a state dict: give its TransformerLens config with --config")
                try:
                    with open(args.config, encoding="utf-8") as f:
                        cfg = json.load(f)
                except OSError as e:
                    raise ExportError(f"{args.config}: cannot read: {e.strerror}") from None
                except ValueError as e:
                    raise ExportError(f"{args.config}: not valid JSON: {e}") from None
                if not isinstance(cfg, dict):
                    raise ExportError(f"{args.config}: not a JSON object")
                state = {}
                for name, value in obj.items():
                    if not hasattr(value, "detach"):
                        raise ExportError(f"{args.input}: entry '{name}' is not a tensor")
                    state[name] = value.detach().cpu().float().numpy()
                try:
                    export(state, cfg, args.output, vocab, vocab_out, args.bos_token)
                except ExportError as e:
                    raise ExportError(f"{args.input} with {args.config}: {e}") from None
            elif hasattr(obj, "state_dict") and hasattr(obj, "cfg"):
                if args.config:
                    raise ExportError("--config is only for state dicts; a saved model carries its own config")
                export_hooked_transformer(obj, args.output, vocab, vocab_out, args.bos_token)
            else:
                raise ExportError(f"{args.input}: neither a state dict nor a HookedTransformer "
                                  f"(got {type(obj).__name__})")
        else:
            try:
                from transformer_lens import HookedTransformer
            except ImportError:
                raise ExportError(f"{args.input}: no such file (and the transformer_lens package, needed to load "
                                  "a model by name, is not installed)") from None
            # The weights as published: circuits applies (and records) its own weight processing.
            load = getattr(HookedTransformer, "from_pretrained_no_processing", HookedTransformer.from_pretrained)
            model = load(args.input, device="cpu")
            export_hooked_transformer(model, args.output, vocab, vocab_out, args.bos_token)
    except ExportError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
