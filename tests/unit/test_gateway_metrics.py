"""The gateway's frame counters at the spots where frames are written or dropped."""
import asyncio

from realtime import frames
from wsgate import metrics
from wsgate.client import TOO_SLOW, Client


def sample(name, **labels):
    return metrics.REGISTRY.get_sample_value(name, labels) or 0


class Socket:
    """A websocket handler stand-in; ``stuck``: the kernel takes nothing, ever."""

    def __init__(self, stuck=False):
        self.stuck = stuck
        self.written = []
        self.closed_with = None

    def write_frame(self, wire):
        if self.stuck:
            return asyncio.get_running_loop().create_future()  # never flushed
        self.written.append(frames.decode(wire))
        return None

    def close(self, code, reason):
        self.closed_with = code


async def _settle():
    for _ in range(5):
        await asyncio.sleep(0)


def test_frames_written_are_counted():
    async def scenario():
        socket = Socket()
        client = Client(socket, buffer_bytes=1024)
        client.send("a")
        await client.replay(["b", "c"])
        await _settle()
        client.stop()
        return socket

    before = sample("absensi_gateway_frames_sent_total")
    socket = asyncio.run(scenario())
    assert socket.written == ["a", "b", "c"]
    assert sample("absensi_gateway_frames_sent_total") - before == 3


def test_a_slow_client_is_dropped_and_its_frames_counted_as_dropped():
    async def scenario():
        # Given a client whose socket takes no frames, with room for 25 bytes
        socket = Socket(stuck=True)
        client = Client(socket, buffer_bytes=25)
        client.send("being written")
        await _settle()
        client.send("queued 1")
        # When three more frames arrive live and no longer fit
        for text in ("live 1", "live 2", "live 3"):
            client.send(text)
        await _settle()
        client.send("after the close")
        client.stop()
        return socket

    dropped = sample("absensi_gateway_frames_dropped_total", reason="client_too_slow")
    slow = sample("absensi_gateway_slow_clients_dropped_total")
    socket = asyncio.run(scenario())

    # Then it is closed as too slow, once, and the frame that did not fit counts as dropped
    assert socket.closed_with == TOO_SLOW
    assert sample("absensi_gateway_frames_dropped_total", reason="client_too_slow") - dropped == 1
    assert sample("absensi_gateway_slow_clients_dropped_total") - slow == 1
