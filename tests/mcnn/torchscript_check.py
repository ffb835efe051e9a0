#!/usr/bin/python3
"""Loads a TorchScript module written by `keel mcnn export` as a PyTorch user would, and runs it.

usage: torchscript_check.py MODEL.pt X.bin RAW.bin N C H W OUT_DIR
X.bin / RAW.bin: float32 little-endian [N,C,H,W]. Writes OUT_DIR/logits.bin (forward(X)),
OUT_DIR/norm.bin (normalize(RAW)) and OUT_DIR/meta.json (the module's keel.json extra file)."""
import json
import sys

import torch

model, x_file, raw_file, n, c, h, w, out = sys.argv[1:]
shape = (int(n), int(c), int(h), int(w))
extra = {"keel.json": ""}
m = torch.jit.load(model, _extra_files=extra)
m.eval()
meta = json.loads(extra["keel.json"])
assert meta == json.loads(m.keel_metadata), "attribute and extra file disagree"


def read(path):
    data = open(path, "rb").read()
    return torch.frombuffer(bytearray(data), dtype=torch.float32).reshape(shape)


with torch.no_grad():
    logits = m(read(x_file))
    norm = m.normalize(read(raw_file))
open(f"{out}/logits.bin", "wb").write(logits.contiguous().numpy().tobytes())
open(f"{out}/norm.bin", "wb").write(norm.contiguous().numpy().tobytes())
json.dump(meta, open(f"{out}/meta.json", "w"))
