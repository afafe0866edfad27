"""Writing framed records: :class:`Signer` and :func:`frame`.

A record is ``0x1E``, one byte of header length, the protobuf Header,
``0x1F`` and the message bytes.  A signed record's header also names the
signer, its key version and the HMAC of the message bytes; the hash
function is written only for SHA1, MD5 being the default.
"""

from __future__ import annotations

import hashlib
import hmac

from hekapy import _wire as w
from hekapy._errors import FramingError

RECORD_SEPARATOR = 0x1E
UNIT_SEPARATOR = 0x1F
MAX_HEADER_SIZE = 255
MAX_MESSAGE_LENGTH = 0xFFFFFFFF
HASH_FUNCTIONS = {"md5": 0, "sha1": 1}
DIGESTS = {0: hashlib.md5, 1: hashlib.sha1}


class Signer:
    """An HMAC signing identity.

    Parameters
    ----------
    name:
        The signer name written into each header.
    key:
        The HMAC key, as str (UTF-8) or bytes.
    version:
        The key version; records are verified against the signer whose
        ``"<name>_<version>"`` the header names.
    hash:
        ``"md5"`` or ``"sha1"``, used when writing.  Verifying uses the
        hash function a record's own header names.
    """

    __slots__ = ("name", "key", "version", "hash")

    def __init__(self, name: str, key: str | bytes, version: int = 0,
                 hash: str = "md5") -> None:
        if hash not in HASH_FUNCTIONS:
            raise ValueError(f"hash must be 'md5' or 'sha1', got {hash!r}")
        if not 0 <= version <= 0xFFFFFFFF:
            raise ValueError(f"version must fit 32 bits, got {version!r}")
        self.name = name
        self.key = key.encode() if isinstance(key, str) else bytes(key)
        self.version = version
        self.hash = hash

    @property
    def key_id(self) -> str:
        """``"<name>_<version>"``, the name a header refers to."""
        return f"{self.name}_{self.version}"

    def __repr__(self) -> str:
        return (f"Signer({self.name!r}, <key>, version={self.version}, "
                f"hash={self.hash!r})")

    def sign(self, message: bytes, hash_function: int | None = None) -> bytes:
        """The HMAC of ``message`` with this signer's key."""
        fn = HASH_FUNCTIONS[self.hash] if hash_function is None \
            else hash_function
        return hmac.new(self.key, message, DIGESTS[fn]).digest()


def encode_header(message_length: int, signer: Signer | None = None,
                  message: bytes = b"") -> bytes:
    """The protobuf Header for a record, signed when ``signer`` is given.
    """
    parts = [b"\x08", w.varint(message_length)]
    if signer is not None:
        fn = HASH_FUNCTIONS[signer.hash]
        if fn:
            parts.append(b"\x18" + w.varint(fn))
        parts.append(w.length_delimited(4, signer.name.encode()))
        parts.append(b"\x28" + w.varint(signer.version))
        parts.append(w.length_delimited(6, signer.sign(message, fn)))
    return b"".join(parts)


def frame(message_bytes: bytes, signer: Signer | None = None,
          max_message_size: int | None = None) -> bytes:
    """One framed record holding ``message_bytes``.

    Raises
    ------
    hekapy.FramingError
        When the message is larger than ``max_message_size`` or the
        header would not fit in 255 bytes (a very long signer name).
    """
    size = len(message_bytes)
    limit = MAX_MESSAGE_LENGTH if max_message_size is None \
        else max_message_size
    if size > limit:
        raise FramingError(
            f"message of {size} bytes is larger than max_message_size "
            f"{limit}")
    header = encode_header(size, signer, message_bytes)
    if len(header) > MAX_HEADER_SIZE:
        raise FramingError(
            f"header of {len(header)} bytes is larger than 255 bytes")
    return b"".join((b"\x1e", bytes((len(header),)), header, b"\x1f",
                     message_bytes))
