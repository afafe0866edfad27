"""The unit the router moves: raw protobuf bytes plus lazy views."""

from __future__ import annotations

from hekapy._impl import MessageView
from hekapy._message import Message


class Pack:
    """One message on its way through the router.

    ``raw`` is the protobuf encoding and stays the source of truth; the
    :attr:`view` and :attr:`message` are built from it on first use.
    ``signer`` is the verified signer name of the record it came from and
    ``loop_count`` how many times filters re-injected it.
    """

    __slots__ = ("raw", "signer", "loop_count", "_view", "_message")

    def __init__(self, raw: bytes, signer: str | None = None,
                 loop_count: int = 0, view: MessageView | None = None,
                 message: Message | None = None) -> None:
        self.raw = raw
        self.signer = signer
        self.loop_count = loop_count
        self._view = view
        self._message = message

    @classmethod
    def from_message(cls, message: Message, signer: str | None = None,
                     loop_count: int = 0) -> Pack:
        return cls(message.encode(), signer, loop_count, message=message)

    @property
    def view(self) -> MessageView:
        """A :class:`MessageView` of ``raw`` (raises DecodeError)."""
        v = self._view
        if v is None:
            v = self._view = MessageView(self.raw)
        return v

    @property
    def message(self) -> Message:
        """A :class:`hekapy.Message` decoded from ``raw``."""
        m = self._message
        if m is None:
            m = self._message = Message.decode(self.raw)
        return m

    def __repr__(self) -> str:
        return (f"Pack(<{len(self.raw)} bytes>, signer={self.signer!r}, "
                f"loop_count={self.loop_count})")


def to_pack(message: Message | Pack | bytes, loop_count: int = 0) -> Pack:
    """Wrap what a caller or plugin hands the router as a Pack.

    A Pack is returned as it is; a Message or protobuf bytes get a new
    Pack with ``loop_count``.

    Raises
    ------
    TypeError
        For anything else.
    """
    if isinstance(message, Pack):
        return message
    if isinstance(message, Message):
        return Pack.from_message(message, loop_count=loop_count)
    if isinstance(message, (bytes, bytearray, memoryview)):
        return Pack(bytes(message), loop_count=loop_count)
    raise TypeError(f"cannot route {type(message).__name__!r}: expected "
                    "hekapy.Message, hekapy.Pack or bytes")
