#!/usr/bin/python3
"""Checks that h5py reads a results file written by `circuits analyze`: root attributes, every
documented dataset of the induction and path groups with its shape and dtype, scalars as group
attributes, and the planted heads.

Usage: /usr/bin/python3 check_results_h5.py CIRCUITS_BINARY
"""
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np


def main() -> int:
    circuits = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="circuits-h5py-") as tmp:
        model = Path(tmp) / "planted.h5"
        subprocess.run([circuits, "planted", "-o", str(model)], check=True, capture_output=True)
        subprocess.run([circuits, "analyze", str(model), "--probe-sequences", "3", "--baseline-samples", "50"], check=True, capture_output=True)
        results = Path(tmp) / "planted.results.h5"
        with h5py.File(results, "r") as f:
            attrs = dict(f.attrs)
            assert attrs["format"] == "circuits-results", attrs
            assert int(attrs["format_version"]) == 1
            for key in ("model_path", "model_sha256", "circuits_version", "passes", "weight_processing"):
                assert key in attrs, key
            L, H = 2, 2
            want = {
                "induction/prev_token": ((L, H), np.float32),
                "induction/duplicate_token": ((L, H), np.float32),
                "induction/induction": ((L, H), np.float32),
                "induction/copying_eval": ((L, H), np.float32),
                "induction/mechanistic": ((L, H), np.float32),
                "induction/is_induction_head": ((L, H), np.uint8),
                "path/head_norm": ((L, H), np.float32),
                "path/virtual_norm": ((L, H, L, H), np.float32),
                "path/qk_k_norm": ((L, H, L, H), np.float32),
                "path/order_loss": ((3,), np.float64),
            }
            for name, (shape, dtype) in want.items():
                assert name in f, name
                assert f[name].shape == shape, (name, f[name].shape, shape)
                assert f[name].dtype == dtype, (name, f[name].dtype, dtype)
            flags = f["induction/is_induction_head"][()]
            assert flags.tolist() == [[0, 0], [1, 0]], flags
            assert float(f["induction"].attrs["induction_threshold"]) == 0.4
            # Every scalar is an attribute of its group; datasets are arrays.
            assert float(f["path"].attrs["direct_norm"]) >= 0.0
            scalar_datasets = []
            f.visititems(lambda name, obj: scalar_datasets.append(name)
                         if isinstance(obj, h5py.Dataset) and obj.shape == () else None)
            assert scalar_datasets == [], scalar_datasets
            virtual = f["path/virtual_norm"][()]
            assert np.isnan(virtual[1, 0, 0, 0]) and np.isfinite(virtual[0, 0, 1, 0])
            loss = f["path/order_loss"][()]
            assert loss[0] > loss[1], loss
    print("results file read by h5py: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
