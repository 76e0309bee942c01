#!/usr/bin/python3
"""md_tok_gen.py: tokenizer.json files shaped like Moondream 2's, for tests
with random weights (no real tokenizer can be fetched here).

  md_tok_gen.py starmie OUT.json   id 0 <|endoftext|>, 1..9 <|md_reserved_N|>
                                   (special), then the 256 byte tokens, then
                                   filler tokens up to 51200 ids
  md_tok_gen.py gpt2 OUT.json      the 256 byte tokens first, filler, and
                                   <|endoftext|> at 50256 (the GPT-2 layout)
  md_tok_gen.py starmie-words OUT.json
                                   starmie, but every other filler token
                                   starts with a space, so text decoded
                                   from random ids falls into words (the
                                   caption words of /v1/analyze's tags)

Byte-level BPE (ByteLevel pre-tokenizer and decoder) without merges: text
encodes to byte tokens; every id of a 51200 vocabulary decodes.
"""
import json
import sys


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def main():
    kind, out = sys.argv[1], sys.argv[2]
    byte_tok = [bytes_to_unicode()[b] for b in range(256)]
    vocab, added = {}, []
    if kind in ("starmie", "starmie-words"):
        specials = ["<|endoftext|>"] + ["<|md_reserved_%d|>" % i for i in range(1, 10)]
        for i, s in enumerate(specials):
            vocab[s] = i
            added.append({"id": i, "content": s, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True})
        base = len(specials)
    else:
        base = 0
    for i, t in enumerate(byte_tok):
        vocab[t] = base + i
    nid = base + 256
    k = 0
    while nid < 51200:
        if kind == "gpt2" and nid == 50256:
            vocab["<|endoftext|>"] = nid
            added.append({"id": nid, "content": "<|endoftext|>", "single_word": False,
                          "lstrip": False, "rstrip": False, "normalized": False, "special": True})
        else:
            # "\u0120" is the byte-level form of a space
            space = "\u0120" if kind == "starmie-words" and k % 2 else ""
            vocab["%sw%d" % (space, k)] = nid
            k += 1
        nid += 1
    tj = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
          "normalizer": None,
          "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                            "use_regex": kind == "gpt2"},
          "post_processor": None,
          "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                      "use_regex": True},
          "model": {"type": "BPE", "dropout": None, "unk_token": None,
                    "continuing_subword_prefix": None, "end_of_word_suffix": None,
                    "fuse_unk": False, "vocab": vocab, "merges": []}}
    with open(out, "w") as f:
        json.dump(tj, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
