#!/usr/bin/env python3
"""Scores tests/data/bleu/ with the real sacreBLEU and writes the expected values as JSON.

Run where `sacrebleu` (the Python package) is installed: python3 tools/sacrebleu_expected.py OUT.json
"""
import json, pathlib, sys
import sacrebleu
from sacrebleu.metrics import BLEU

d = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "bleu"
read = lambda n: (d / n).read_text().split("\n")[:-1]
hyp, r1, r2 = read("hyp.txt"), read("ref1.txt"), read("ref2.txt")

def dump(score):
    return {"score": score.score, "counts": score.counts, "totals": score.totals,
            "precisions": score.precisions, "bp": score.bp, "sys_len": score.sys_len,
            "ref_len": score.ref_len}

res = {"sacrebleu_version": sacrebleu.__version__, "corpus": [], "sentence": []}
configs = [
    {"refs": ["ref1.txt"]},
    {"refs": ["ref1.txt", "ref2.txt"]},
    {"refs": ["ref1.txt"], "lowercase": True},
    {"refs": ["ref1.txt"], "tokenize": "none"},
    {"refs": ["ref1.txt"], "smooth_method": "floor", "smooth_value": 0.1},
    {"refs": ["ref1.txt"], "smooth_method": "add-k", "smooth_value": 1},
    {"refs": ["ref1.txt"], "smooth_method": "none"},
    {"refs": ["ref1.txt", "ref2.txt"], "max_ngram_order": 2},
]
for c in configs:
    kw = {k: v for k, v in c.items() if k != "refs"}
    b = BLEU(**kw)
    refs = [read(r) for r in c["refs"]]
    s = b.corpus_score(hyp, refs)
    res["corpus"].append({"config": c, "signature": str(b.get_signature()), **dump(s)})
bs = BLEU(effective_order=True)
for h, a, b2 in zip(hyp, r1, r2):
    res["sentence"].append({"one_ref": dump(bs.sentence_score(h, [a])),
                            "two_refs": dump(bs.sentence_score(h, [a, b2]))})
res["sentence_signature"] = str(bs.get_signature())
# The README example of sacreBLEU.
refs = [["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
        ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."]]
sys_ = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
b = BLEU()
res["readme_example"] = {"hyp": sys_, "refs": refs, **dump(b.corpus_score(sys_, refs)),
                         "signature": str(b.get_signature())}
pathlib.Path(sys.argv[1]).write_text(json.dumps(res, indent=1) + "\n")
print("sacrebleu", sacrebleu.__version__, "corpus BLEU (1 ref):", res["corpus"][0]["score"])
