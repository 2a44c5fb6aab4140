#!/usr/bin/env python3
"""An independent check of a tranche export, written from docs/FORMAT.md alone.

    python3 verify.py EXPORT_DIR VKEY

VKEY is the ledger's verifier key in C2SP vkey form (name+keyid+base64), or a file holding it;
obtain it out of band. The script checks the line form and RFC 8785 canonical encoding of every
record (§1, §6), the gapless seq and the hash chain (§1), the RFC 6962 Merkle root against the
signed checkpoint (§3, §4.1) and the checkpoint's Ed25519 signature by that key (§4). It does not
apply the accounting and programme rules of §2: `tranche-verify` does.

Needs Python 3.8+ and the `cryptography` package. Exit status: 0 when everything holds, 1 when
the export is invalid (the first fault is printed), 2 when it cannot be read.
"""

import base64
import hashlib
import json
import sys
from pathlib import Path


def sha256(data):
    return hashlib.sha256(data).digest()


class Invalid(Exception):
    pass


def parse_vkey(text):
    name, key_id, key_b64 = text.strip().split("+", 2)
    raw = base64.b64decode(key_b64, validate=True)
    if len(raw) != 33 or raw[0] != 0x01:
        raise Invalid("the vkey is not an Ed25519 key")
    if sha256(name.encode() + b"\n" + raw)[:4].hex() != key_id:
        raise Invalid("the vkey's key id does not match its name and key")
    return name, bytes.fromhex(key_id), raw[1:]


def check_records(path):
    """Streams records.jsonl; returns (count, root)."""
    border = []  # the right border of the tree: (size, hash) of perfect subtrees
    prev, count = bytes(32), 0
    with open(path, "rb") as f:
        for raw in f:
            seq = count
            if not raw.endswith(b"\n"):
                raise Invalid(f"seq {seq}: the last line does not end in a newline")
            line = raw[:-1]
            if len(line) > 65536:
                raise Invalid(f"seq {seq}: the record is over 65,536 bytes")
            try:
                record = json.loads(line)
            except ValueError as e:
                raise Invalid(f"seq {seq}: not JSON ({e})")
            canonical = json.dumps(
                record, sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode()
            if canonical != line:
                raise Invalid(f"seq {seq}: not the RFC 8785 canonical encoding")
            if record.get("seq") != seq:
                raise Invalid(f"seq {seq}: the line holds seq {record.get('seq')}")
            if bytes.fromhex(record.get("prev", "")) != prev:
                raise Invalid(f"seq {max(seq - 1, 0)}: altered (the next record's prev differs)")
            prev = sha256(b"\x00" + line)  # the leaf hash
            border.append((1, prev))
            while len(border) > 1 and border[-1][0] == border[-2][0]:
                (n, right), (_, left) = border.pop(), border.pop()
                border.append((2 * n, sha256(b"\x01" + left + right)))
            count += 1
    root = border[-1][1] if border else sha256(b"")
    for _, left in reversed(border[:-1]):
        root = sha256(b"\x01" + left + root)
    return count, root


def check_checkpoint(note, name, key_id, public_key, count, root):
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if "\n\n" not in note:
        raise Invalid("the checkpoint is not a signed note")
    text, signatures = note.split("\n\n", 1)
    text += "\n"
    lines = text.split("\n")
    if len(lines) < 4 or lines[0] != name:
        raise Invalid(f"the checkpoint is not for origin {name}")
    size, root_b64 = lines[1], lines[2]
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise Invalid("the checkpoint's tree size is not a decimal number")
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014" or parts[1] != name:
            continue
        sig = base64.b64decode(parts[2])
        if sig[:4] != key_id:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(sig[4:], text.encode())
        except InvalidSignature:
            raise Invalid("the checkpoint's signature does not hold")
        break
    else:
        raise Invalid("the checkpoint has no signature by that key")
    if int(size) != count:
        raise Invalid(f"the checkpoint covers {size} records, the export has {count}")
    if base64.b64decode(root_b64) != root:
        raise Invalid("the records' Merkle root differs from the signed root")


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    export, vkey = Path(argv[1]), argv[2]
    try:
        if Path(vkey).is_file():
            vkey = Path(vkey).read_text()
        name, key_id, public_key = parse_vkey(vkey)
        note = (export / "checkpoint").read_text(encoding="utf-8")
        count, root = check_records(export / "records.jsonl")
        check_checkpoint(note, name, key_id, public_key, count, root)
    except Invalid as e:
        print(f"FAILED: {e}")
        return 1
    except (OSError, ValueError) as e:
        print(f"could not read: {e}", file=sys.stderr)
        return 2
    print(f"OK: {count} records, root {base64.b64encode(root).decode()}, signed by {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
