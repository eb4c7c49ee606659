"""The frames the hub builds once per event are valid server frames (RFC 6455 §5.2)."""
import pytest
import websocket
from websocket._abnf import frame_buffer

from realtime import frames


def parse(wire):
    """One frame read by websocket-client's own parser (independent of ours)."""
    buffer = bytearray(wire)

    def recv(n):
        chunk = bytes(buffer[:n])
        del buffer[:n]
        return chunk

    frame = frame_buffer(recv, skip_utf8_validation=False).recv_frame()
    assert not buffer, "bytes left after the frame"
    return frame


@pytest.mark.parametrize("length", [0, 1, 125, 126, 65535, 65536, 70000])
def test_every_length_encoding_reads_back_with_an_independent_parser(length):
    text = "x" * length
    frame = parse(frames.encode(text))
    # a server frame: final, text, unmasked
    assert (frame.fin, frame.opcode, frame.mask_value) == (1, websocket.ABNF.OPCODE_TEXT, 0)
    assert frame.data.decode() == text
    assert frames.decode(frames.encode(text)) == text


def test_the_length_counts_utf8_bytes_not_characters():
    text = "Pegawai Ñandú 🙂 " * 10
    wire = frames.encode(text)
    assert len(wire) == 4 + len(text.encode()) > 4 + len(text)
    assert parse(wire).data.decode() == text


def test_a_frame_is_built_once_and_sized_in_bytes():
    frame = frames.Frame('{"op":"event"}')
    assert frame.text == '{"op":"event"}'
    assert len(frame) == len(frame.wire) == 2 + 14
