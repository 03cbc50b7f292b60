"""The collector's journal writer in a process of its own: beacons in over a socket, acks out after commit.

Rule: an acknowledgement leaves the journal process only after the
transaction holding that beacon has committed (and its visitors are stamped
on the change board), so a 2xx still means "on disk"; a request whose ack
never came (the process died, the socket broke) fails with StoreError, never
with a success.

Why a process: in one process the writer thread and the event loop share one
GIL. Traced at 20,000 events/s, each sqlite3 call hands the GIL to the busy
loop and getting it back can take a whole switch interval (5 ms): commits
of 0.5 ms CPU took up to 18 ms (1.1 s of every 5 s spent waiting) and the
loop, which also serves pages, lagged up to 15 ms (p99 6.4 ms). Here commits
take their CPU time (p99 1.3 ms) and the loop's lag p99 is 1.7-3 ms. The
price is ~10% more CPU per event (frames, wake-ups); on the 2-CPU bench box,
shared with the bench client, the collector's own p99 did not improve
(alternating runs: 14-30 ms either way, CPU-bound; see bench_collector).

Wire: both ways, frames of a 4-byte little-endian length and a msgpack body.
The parent sends a `JournalConfig` first, then one `RecordFrame` per `record`
call; the child answers `Acks` once at start (ready: empty results) and once
per commit, one result per frame, in the order the frames came. The child
takes every frame waiting (up to MAX_BATCH_EVENTS events) into one commit,
so requests arriving during a commit ride the next one, and the parent wakes
up once per commit. On EOF the child commits what it has read, answers it,
and exits; the parent half-closes its end to stop it (nothing in flight is
lost) and a parent killed outright closes it too.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec

from proxy import events as ev
from proxy.errors import StoreError
from proxy.journal import MAX_BATCH_EVENTS
from proxy.settings import ProfileSettings

START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
RECV_BYTES = 1 << 20
_HEADER = 4
_REPO = Path(__file__).resolve().parents[1]
_CHILD = "import sys; from proxy.journal_process import main; sys.exit(main(sys.argv))"  # not -m: one copy of this module


class JournalConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    path: str
    sync: str
    profiles: ProfileSettings


class RecordFrame(msgspec.Struct, frozen=True, array_like=True):
    """One `ProfileStore.record` call: the events to journal (GPC already applied) and how many were ignored."""

    vid: str
    received: float
    gpc: bool
    ignored: int
    events: list[ev.Event]


Result = tuple[int, int, int] | str  # (accepted, duplicates, ignored), or why it failed


class Acks(msgspec.Struct, frozen=True, array_like=True):
    commits: int  # the child's commits so far
    results: list[Result]
    fatal: str = ""  # the child cannot go on (start-up failed)


_record_encoder = msgspec.msgpack.Encoder()
_record_decoder = msgspec.msgpack.Decoder(RecordFrame)
_acks_encoder = msgspec.msgpack.Encoder()
_acks_decoder = msgspec.msgpack.Decoder(Acks)
_config_decoder = msgspec.msgpack.Decoder(JournalConfig)


def _frame(encoder: msgspec.msgpack.Encoder, message: Any) -> bytes:
    buffer = bytearray(_HEADER)
    encoder.encode_into(message, buffer, _HEADER)
    buffer[:_HEADER] = (len(buffer) - _HEADER).to_bytes(_HEADER, "little")
    return bytes(buffer)


class _Frames:
    """Splits a byte stream into frame bodies."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._start = 0

    def feed(self, data: bytes) -> None:
        if self._start and self._start == len(self._buffer):
            self._buffer.clear()
            self._start = 0
        self._buffer += data

    def next(self) -> memoryview | None:
        buffer, start = self._buffer, self._start
        if len(buffer) - start < _HEADER:
            return None
        size = int.from_bytes(buffer[start : start + _HEADER], "little")
        end = start + _HEADER + size
        if len(buffer) < end:
            return None
        self._start = end
        return memoryview(buffer)[start + _HEADER : end]

    def compact(self) -> None:
        """Drop consumed bytes (call when no memoryview from `next` is alive)."""
        if self._start:
            del self._buffer[: self._start]
            self._start = 0


# ---- the parent's side --------------------------------------------------------------------


class _AckProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.frames = _Frames()
        self.waiting: collections.deque[asyncio.Future[Result]] = collections.deque()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.commits = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        frames = self.frames
        frames.feed(data)
        while (body := frames.next()) is not None:
            try:
                acks = _acks_decoder.decode(body)
            except msgspec.DecodeError as exc:
                self._fail(f"the journal process sent a bad frame: {exc}")
                return
            if acks.fatal:
                self._fail(acks.fatal)
                return
            self.commits = acks.commits
            if not self.ready.done():
                self.ready.set_result(None)
            waiting = self.waiting
            for result in acks.results:
                if not waiting:
                    self._fail("the journal process answered a request never sent")
                    return
                future = waiting.popleft()
                if not future.done():
                    if type(result) is str:
                        future.set_exception(StoreError(result))
                    else:
                        future.set_result(result)
        del body
        frames.compact()

    def eof_received(self) -> bool:
        return False  # close our end too

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail("the journal process exited")
        if not self.lost.done():
            self.lost.set_result(None)

    def _fail(self, message: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(StoreError(message))
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(StoreError(message))
        if self.transport is not None:
            self.transport.close()


class JournalProcess:
    """The parent's handle on a journal process: `record` frames in, results back.

    A journal process that died (killed, crashed) fails the requests in
    flight with StoreError; the next `record` starts a new one.
    """

    def __init__(self, config: JournalConfig) -> None:
        self._config = config
        self._proc: subprocess.Popen[bytes] | None = None
        self._protocol: _AckProtocol | None = None
        self._starting: asyncio.Lock | None = None
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop our socket is registered with
        self._commits_before = 0  # commits of journal processes that are gone

    @classmethod
    async def start(cls, path: Path, *, sync: str, profiles: ProfileSettings) -> JournalProcess:
        journal = cls(JournalConfig(str(path), sync, profiles))
        await journal._spawn()
        return journal

    @property
    def commits(self) -> int:
        """Group commits so far (as last reported)."""
        return self._commits_before + (self._protocol.commits if self._protocol is not None else 0)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def record(self, vid: str, events: list[ev.Event], *, ignored: int, received: float, gpc: bool) -> tuple[int, int, int]:
        """Journal and fold; returns (accepted, duplicates, ignored) once committed. Raises StoreError."""
        protocol = self._protocol
        if protocol is None or protocol.lost.done():
            protocol = await self._restart()
        transport = protocol.transport
        assert transport is not None
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        transport.write(_frame(_record_encoder, RecordFrame(vid, received, gpc, ignored, events)))
        protocol.waiting.append(future)
        return await future  # type: ignore[return-value]

    async def close(self) -> None:
        """Stop taking requests, let the child answer those in flight, and wait for it to exit."""
        if self._closed:
            return
        self._closed = True
        protocol, proc = self._protocol, self._proc
        if protocol is not None and protocol.transport is not None and self._loop is not asyncio.get_running_loop():
            # Closed from another loop (a test's): half-close on the transport's own loop, then wait for the exit.
            self._loop.call_soon_threadsafe(_write_eof, protocol.transport)
        elif protocol is not None and protocol.transport is not None and not protocol.lost.done():
            protocol.transport.write_eof()
            try:
                await asyncio.wait_for(asyncio.shield(protocol.lost), STOP_TIMEOUT_SECONDS)
            except asyncio.TimeoutError:
                protocol.transport.close()
        if proc is not None:
            await asyncio.to_thread(_reap, proc)

    async def _restart(self) -> _AckProtocol:
        if self._closed:
            raise StoreError("the event journal is closed")
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._protocol is None or self._protocol.lost.done():
                if self._protocol is not None:
                    self._commits_before += self._protocol.commits
                if self._proc is not None:
                    await asyncio.to_thread(_reap, self._proc)
                await self._spawn()
        assert self._protocol is not None
        return self._protocol

    async def _spawn(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO), env.get("PYTHONPATH")]))
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(theirs.fileno())], pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL, cwd=str(_REPO)
            )
        except OSError as exc:
            ours.close()
            raise StoreError(f"cannot start the journal process: {exc}") from exc
        finally:
            theirs.close()
        self._proc = proc
        loop = self._loop = asyncio.get_running_loop()
        _, protocol = await loop.create_unix_connection(_AckProtocol, sock=ours)
        self._protocol = protocol
        assert protocol.transport is not None
        protocol.transport.write(_frame(msgspec.msgpack.Encoder(), self._config))
        try:
            await asyncio.wait_for(asyncio.shield(protocol.ready), START_TIMEOUT_SECONDS)
        except (StoreError, asyncio.TimeoutError) as exc:
            protocol.transport.close()
            await asyncio.to_thread(_reap, proc)
            raise StoreError(f"the journal process did not start: {exc or 'timed out'}") from None


def _write_eof(transport: asyncio.Transport) -> None:
    if not transport.is_closing():
        transport.write_eof()


def _reap(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---- the child's side ---------------------------------------------------------------------


class _Reader:
    """Frames from the parent's socket: blocking for the first, then whatever is already there."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._frames = _Frames()
        self.eof = False

    def fill(self, *, block: bool) -> bool:
        """Read what is there (waiting for something if `block`); False if nothing came."""
        try:
            data = self._sock.recv(RECV_BYTES) if block else self._sock.recv(RECV_BYTES, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except ConnectionError:
            data = b""
        if not data:
            self.eof = True
            return False
        self._frames.feed(data)
        return True

    def next(self) -> bytes | None:
        body = self._frames.next()
        if body is None:
            return None
        data = bytes(body)
        body.release()
        return data

    def compact(self) -> None:
        self._frames.compact()


def serve(sock: socket.socket) -> None:
    """The journal process: commit batches of record frames until the parent closes its end."""
    reader = _Reader(sock)
    config_body = None
    while config_body is None and not reader.eof:
        config_body = reader.next()
        if config_body is None:
            reader.fill(block=True)
    if config_body is None:
        return
    try:
        config = _config_decoder.decode(config_body)
        from proxy.profile_store import RecordWriter

        writer = RecordWriter(Path(config.path), config.profiles, sync=config.sync)
    except Exception as exc:  # noqa: BLE001 - told to the parent, which fails clearly
        sock.sendall(_frame(_acks_encoder, Acks(0, [], fatal=f"{type(exc).__name__}: {exc}")))
        return
    try:
        sock.sendall(_frame(_acks_encoder, Acks(0, [])))
        while True:
            batch: list[RecordFrame] = []
            weight = 0
            while weight < MAX_BATCH_EVENTS:
                body = reader.next()
                if body is None:
                    if reader.eof or not reader.fill(block=not batch):
                        break
                    continue
                frame = _record_decoder.decode(body)
                batch.append(frame)
                weight += len(frame.events) + frame.ignored
            reader.compact()
            if batch:
                results = writer.commit(batch)
                sock.sendall(_frame(_acks_encoder, Acks(writer.commits, results)))
                writer.after_commit()
            elif reader.eof:
                return
    except (BrokenPipeError, ConnectionError):
        return  # the parent is gone: nothing left to acknowledge
    finally:
        writer.close()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides when we stop
    sock = socket.socket(fileno=int(argv[1]))
    sock.setblocking(True)
    try:
        serve(sock)
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
