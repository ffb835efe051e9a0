#!/usr/bin/env python3
"""Writes the BLEU test vectors in tests/data/bleu/ (deterministic, seed fixed).

References are sentences of the GPL-3 text plus hand-written ones that exercise sacreBLEU's 13a
tokenizer (numbers with commas/periods, dashes, quotes, HTML entities, brackets); hypotheses are
seeded perturbations (drops, swaps, substitutions, empty lines). Expected scores come from the
real sacreBLEU (tools/sacrebleu_expected.py, run where sacrebleu is installed).
"""
import random, re, pathlib

out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "bleu"
text = pathlib.Path("/usr/share/common-licenses/GPL-3").read_text()
text = re.sub(r"\s+", " ", text)
sents = [s.strip() for s in re.split(r"(?<=[.;:])\s+(?=[A-Z\"(])", text)]
sents = [s for s in sents if 4 <= len(s.split()) <= 45]
rng = random.Random(20261127)
rng.shuffle(sents)
sents = sents[:180]
special = [
    'The 1,000-year flood cost $3.5 billion (about 2.9 billion euros) in 2021.',
    'He said: "It\'s 5-10 km away," and left at 10:30 a.m.',
    'Use x<y &amp; y>z; see &quot;Section 3.2&quot; [p. 14] for details.',
    'Temperatures fell to -4.5 degrees, i.e. 23.9 F.',
    'E-mail me@example.com or visit https://example.org/path?q=1&r=2.',
    'Wait... what?! No -- really?',
    'The well-known U.S. co-operative owns 25% of it.',
    'Prices: 1.5, 2.25 and 3,000.75 -- all in USD.',
    "Don't split can't, won't or O'Neill's words.",
    '{braces} and ~tildes~ and `backticks` and |pipes| and #hashes.',
]
refs = special + sents
words = sorted({w for s in refs for w in s.split()})

def perturb(s, p):
    toks = s.split()
    outt = []
    for t in toks:
        r = rng.random()
        if r < p / 3:
            continue                      # drop
        if r < 2 * p / 3:
            outt.append(rng.choice(words))  # substitute
            continue
        outt.append(t)
    for _ in range(int(len(outt) * p / 3)):  # local swaps
        if len(outt) > 2:
            i = rng.randrange(len(outt) - 1)
            outt[i], outt[i + 1] = outt[i + 1], outt[i]
    return " ".join(outt)

hyp, ref2 = [], []
for i, s in enumerate(refs):
    p = [0.0, 0.1, 0.25, 0.5, 0.9][i % 5]
    h = perturb(s, p)
    if i % 37 == 11:
        h = ""                 # empty hypothesis line
    if i % 41 == 7:
        h = h.upper()          # case differences
    hyp.append(h)
    ref2.append(perturb(s, 0.2))
(out / "ref1.txt").write_text("\n".join(refs) + "\n")
(out / "ref2.txt").write_text("\n".join(ref2) + "\n")
(out / "hyp.txt").write_text("\n".join(hyp) + "\n")
print(len(refs), "segments written to", out)
