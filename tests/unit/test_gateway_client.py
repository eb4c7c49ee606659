"""A socket's memory in the gateway is bounded in bytes, recovery replays included."""
import asyncio

from realtime import frames
from wsgate.client import TOO_SLOW, Client


class SlowReader:
    """A websocket stand-in whose kernel takes nothing at once: each frame is flushed
    an event-loop turn after it was written (``write_frame`` returns its future)."""

    def __init__(self, client_ref):
        self.client_ref = client_ref
        self.written, self.peak_queued, self.closed_with = [], 0, None

    def write_frame(self, wire):
        client = self.client_ref[0]
        self.peak_queued = max(self.peak_queued, client.queued_bytes + len(wire))
        loop = asyncio.get_running_loop()
        flushed = loop.create_future()

        def flush():
            self.written.append(frames.decode(wire))
            flushed.set_result(None)

        loop.call_soon(flush)
        return flushed

    def close(self, code, reason):
        self.closed_with = code


def test_a_10000_event_recovery_never_holds_more_than_the_budget():
    async def scenario():
        ref = []
        socket = SlowReader(ref)
        client = Client(socket, buffer_bytes=64 * 1024)
        ref.append(client)
        frames = [f'{{"op":"event","event_id":{n},"pad":"{"x" * 200}"}}' for n in range(10_000)]
        await client.replay(frames)
        while client.queued_bytes:
            await asyncio.sleep(0)
        client.stop()
        return socket, frames

    socket, frames = asyncio.run(scenario())
    # Then every frame arrived, in order, the reader was never dropped,
    # and at no time did more than the budget wait in the gateway
    assert socket.written == frames
    assert socket.closed_with is None
    assert socket.peak_queued <= 64 * 1024


def test_a_single_huge_backlog_is_bounded_in_bytes_not_frames():
    async def scenario():
        class Stuck:
            closed_with = None

            def write_frame(self, wire):
                return asyncio.get_running_loop().create_future()  # never flushed

            def close(self, code, reason):
                self.closed_with = code

        socket = Stuck()
        client = Client(socket, buffer_bytes=100_000)
        for _ in range(3):  # three frames of 40 kB: few frames, many bytes
            client.send("x" * 40_000)
        await asyncio.sleep(0)
        client.stop()
        return socket

    assert asyncio.run(scenario()).closed_with == TOO_SLOW
