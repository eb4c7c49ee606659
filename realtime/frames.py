"""Websocket text frames built once, however many sockets they go to.

Tornado's ``write_message`` encodes the text and builds the frame on every call, and
wraps each write in a task of its own: for one event to 10,000 sockets that was most of
the gateway's time (and garbage). The hub builds one :class:`Frame` per event instead and
every subscribed socket gets the same bytes (:meth:`wsgate.handlers.RealtimeSocket.write_frame`).

A frame from a server is neither masked nor fragmented (RFC 6455 §5.1-5.2); compression
is off on these sockets (the same bytes could not be shared otherwise).
"""
import struct

TEXT = 0x1
FIN = 0x80


class Frame:
    """One text frame: ``text`` (the JSON) and ``wire`` (the bytes a socket is sent)."""

    __slots__ = ("text", "wire")

    def __init__(self, text):
        self.text = text
        self.wire = encode(text)

    def __len__(self):
        return len(self.wire)


def encode(text):
    """The unmasked, final text frame of *text* (header and UTF-8 payload)."""
    payload = text.encode()
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", FIN | TEXT, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", FIN | TEXT, 126, length)
    else:
        header = struct.pack("!BBQ", FIN | TEXT, 127, length)
    return header + payload


def decode(wire):
    """The text of one frame made by :func:`encode` (for tests and stand-ins)."""
    length, start = wire[1] & 0x7F, 2
    if length == 126:
        length, start = struct.unpack_from("!H", wire, 2)[0], 4
    elif length == 127:
        length, start = struct.unpack_from("!Q", wire, 2)[0], 10
    return bytes(wire[start:start + length]).decode()
