"""``hekapy-flood``: send generated Heka messages to a router.

A load generator for testing a listening TcpInput or UdpInput: framed
protobuf messages with a random payload, optionally signed, optionally
with a share of deliberately corrupted records, at a fixed rate or as
fast as the socket takes them.  Prints what it sent when done.
"""

from __future__ import annotations

import argparse
import random
import socket
import sys
import time

from hekapy._message import Field, Message
from hekapy._signing import Signer, frame

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 "


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hekapy-flood",
        description="Send generated Heka framed messages over TCP or UDP.",
    )
    p.add_argument(
        "-address",
        "--address",
        default="127.0.0.1:5565",
        help="host:port to send to (default %(default)s)",
    )
    p.add_argument(
        "-sender", "--sender", choices=("tcp", "udp"), default="tcp"
    )
    p.add_argument(
        "-count",
        "--count",
        type=int,
        default=1000,
        help="messages to send (default %(default)s)",
    )
    p.add_argument(
        "-rate",
        "--rate",
        type=float,
        default=0,
        help="messages per second; 0 sends as fast as possible",
    )
    p.add_argument(
        "-size",
        "--size",
        type=int,
        default=200,
        help="payload bytes (default %(default)s)",
    )
    p.add_argument(
        "-variable-size",
        "--variable-size",
        action="store_true",
        help="payload sizes drawn between 1 and -size",
    )
    p.add_argument(
        "-corrupt-percentage",
        "--corrupt-percentage",
        type=float,
        default=0.0,
        help="share of records with one flipped byte",
    )
    p.add_argument(
        "-signed-percentage",
        "--signed-percentage",
        type=float,
        default=0.0,
        help="share of records signed with -signer",
    )
    p.add_argument(
        "-signer",
        "--signer",
        default="",
        help="NAME:VERSION:KEY used for signed records",
    )
    p.add_argument(
        "-seed",
        "--seed",
        type=int,
        default=None,
        help="random seed, for repeatable runs",
    )
    return p


def _signer(text: str) -> Signer | None:
    if not text:
        return None
    name, version, key = text.split(":", 2)
    return Signer(name, key, int(version))


def make_message(rng: random.Random, i: int, size: int) -> bytes:
    """The protobuf bytes of generated message number ``i``."""
    payload = "".join(rng.choices(ALPHABET, k=size))
    return Message.new(
        type="hekabench",
        logger="hekapy-flood",
        hostname="flood",
        severity=6,
        payload=payload,
        fields=[Field("sequence", i), Field("size", size)],
    ).encode()


def records(
    args: argparse.Namespace,
    rng: random.Random,
) -> tuple[list[bytes], dict[str, int]]:
    """Every framed record to send, and what was done to them."""
    signer = _signer(args.signer)
    out: list[bytes] = []
    stats = {"signed": 0, "corrupted": 0}
    for i in range(args.count):
        size = rng.randint(1, args.size) if args.variable_size else args.size
        body = make_message(rng, i, size)
        use = (
            signer
            if signer is not None
            and rng.random() * 100 < args.signed_percentage
            else None
        )
        rec = bytearray(frame(body, use))
        if use is not None:
            stats["signed"] += 1
        if rng.random() * 100 < args.corrupt_percentage:
            pos = rng.randrange(len(rec))
            rec[pos] ^= 0xFF
            stats["corrupted"] += 1
        out.append(bytes(rec))
    return out, stats


def main(argv: list[str] | None = None) -> int:
    """Run the generator; returns the exit status."""
    args = _parser().parse_args(argv)
    rng = random.Random(args.seed)
    host, _, port = args.address.rpartition(":")
    recs, stats = records(args, rng)
    start = time.monotonic()
    sent = 0
    try:
        if args.sender == "tcp":
            sock = socket.create_connection(
                (host.strip("[]"), int(port)), timeout=10
            )
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.connect((host.strip("[]"), int(port)))
        with sock:
            for rec in recs:
                if args.rate > 0:
                    due = start + sent / args.rate
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                if args.sender == "tcp":
                    sock.sendall(rec)
                else:
                    sock.send(rec)
                sent += 1
    except OSError as exc:
        sys.stderr.write(f"hekapy-flood: {exc} after {sent} messages\n")
        return 1
    took = max(time.monotonic() - start, 1e-9)
    sys.stdout.write(
        f"sent {sent} messages ({stats['signed']} signed, "
        f"{stats['corrupted']} corrupted) in {took:.2f} s, "
        f"{sent / took:.0f} msg/s\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
