#!/usr/bin/env python3
"""An independent DSX-HMAC signer and verifier, written from the wire description with the
standard library only, computed exactly as the original service computes it: the MAC is keyed
with the UTF-8 text of the secret (not its decoded bytes), the message is
`METHOD|path_q|ts|nonce|` followed by the raw body, the signature is padded standard base64.

    dsx_hmac.py generate N SEED   -> JSON lines: cases signed here, each with mutated copies
    dsx_hmac.py verify            <- JSON lines {"case":…, "header":…}; exits 1 on any refusal
"""
import base64
import hashlib
import hmac
import json
import random
import sys


def sign(key_id, secret, method, path_q, body, ts, nonce):
    msg = f"{method.upper()}|{path_q}|{ts}|{nonce}|".encode("utf-8") + body
    sig = base64.b64encode(hmac.new(secret.encode("utf-8"), msg, hashlib.sha256).digest()).decode()
    return f"DSX-HMAC key_id={key_id}, ts={ts}, nonce={nonce}, sig={sig}"


def verify(header, secret, method, path_q, body):
    if not header.startswith("DSX-HMAC "):
        return False
    parts = {}
    for piece in header[len("DSX-HMAC "):].split(","):
        name, _, value = piece.strip().partition("=")
        parts[name] = value
    expected = sign(parts["key_id"], secret, method, path_q, body, parts["ts"], parts["nonce"])
    return hmac.compare_digest(expected.rsplit("sig=", 1)[1], parts["sig"])


def b64(b):
    return base64.b64encode(b).decode()


def generate(n, seed):
    rnd = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_-."
    for i in range(n):
        key_id = b64(rnd.randbytes(12))
        secret = b64(rnd.randbytes(32))
        method = rnd.choice(["GET", "POST", "PUT", "DELETE"])
        path = "/" + "/".join("".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 12)))
                              for _ in range(rnd.randint(1, 4)))
        query = "&".join(f"{rnd.choice(alphabet)}{j}={rnd.randint(0, 999)}" for j in range(rnd.randint(0, 3)))
        path_q = f"{path}?{query}" if query else path
        body = rnd.randbytes(rnd.randint(0, 300)) if method != "GET" else b""
        ts = 1767225600 + rnd.randint(-30, 30)
        nonce = b64(rnd.randbytes(12))
        header = sign(key_id, secret, method, path_q, body, ts, nonce)
        mutations = []
        # One changed byte of each signed part: method, path, query, ts, nonce, body.
        m = list(method)
        m[0] = "X"
        mutations.append({"method": "".join(m), "path_q": path_q, "body": b64(body), "header": header})
        p = list(path_q)
        p[1] = "Z" if p[1] != "Z" else "Y"
        mutations.append({"method": method, "path_q": "".join(p), "body": b64(body), "header": header})
        mutations.append({"method": method, "path_q": (path_q + "1") if query else path_q + "?q=1",
                          "body": b64(body), "header": header})
        mutations.append({"method": method, "path_q": path_q, "body": b64(body),
                          "header": header.replace(f"ts={ts}", f"ts={ts + 1}")})
        other_nonce = b64(rnd.randbytes(12))
        mutations.append({"method": method, "path_q": path_q, "body": b64(body),
                          "header": header.replace(f"nonce={nonce}", f"nonce={other_nonce}")})
        flipped = bytearray(body or b"\x00")
        flipped[rnd.randrange(len(flipped))] ^= 0x01 << rnd.randrange(8)
        mutations.append({"method": method, "path_q": path_q, "body": b64(bytes(flipped)), "header": header})
        print(json.dumps({"key_id": key_id, "secret": secret, "method": method, "path_q": path_q,
                          "body": b64(body), "ts": ts, "nonce": nonce, "header": header,
                          "mutations": mutations}))


def verify_lines():
    bad = 0
    for line in sys.stdin:
        item = json.loads(line)
        c = item["case"]
        if not verify(item["header"], c["secret"], c["method"], c["path_q"], base64.b64decode(c["body"])):
            bad += 1
            print(f"refused: {item['header']}", file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(int(sys.argv[2]), int(sys.argv[3]))
    else:
        verify_lines()
