#!/usr/bin/env python3
"""dec_compare.py: compares `vkv decode` JSON with moondream_ref.py JSON
(suite 32-decoder); prints TAP lines with the measured figures.

  dec_compare.py REF.json VKV.json NAME BOUND [--same-tokens] [--hidden]

error = max |vkv - ref| / max |ref| over the last prefill logits and every
step's logits (the run must have been teacher-forced with the reference's
tokens, --force, so the steps see the same inputs); --hidden adds the last
block's residual rows (vkv --hidden vs ref hidden[-1]).  BOUND is the largest
error accepted.  --same-tokens also requires identical greedy tokens (meaningful only for a
run that was not teacher-forced).
"""
import json
import sys


def rel(a, b):
    m = max(abs(x) for x in b) or 1.0
    return max(abs(x - y) for x, y in zip(a, b)) / m


def main():
    ref_p, vkv_p, name, bound = sys.argv[1:5]
    flags = sys.argv[5:]
    bound = float(bound)
    r = json.load(open(ref_p))["text"]
    v = json.load(open(vkv_p))
    ok = True

    def tap(cond, msg):
        nonlocal ok
        ok &= bool(cond)
        print("%s - %s" % ("ok" if cond else "not ok", msg))

    tap(v["tokens"] == r["tokens"], "%s: same prompt ids" % name)
    steps = list(zip(v["step_logits"], r["step_logits"]))
    tap(len(v["logits_last"]) == len(r["logits"][-1]) and len(steps) == len(r["step_logits"]) > 0,
        "%s: logits of the prefill and %d steps present" % (name, len(steps)))
    err = max([rel(v["logits_last"], r["logits"][-1])] + [rel(a, b) for a, b in steps])
    tap(err <= bound, "%s: logits within %.0e of the reference (measured %.2e)" % (name, bound, err))
    if "--hidden" in flags:
        h = max(rel(a, b) for a, b in zip(v["hidden_last"], r["hidden"][-1]))
        tap(h <= bound, "%s: last block's hidden states within %.0e (measured %.2e)" % (name, bound, h))
    if "--same-tokens" in flags:
        tap(v["generated"] == r["generated"],
            "%s: greedy tokens identical %s" % (name, r["generated"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
