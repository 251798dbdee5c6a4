"""Helpers of the PostgreSQL tests: a TCP proxy that can cut the database off, a log watcher, and
the function worker processes run (importable by name in spawned processes)."""

from __future__ import annotations

import logging
import queue
import selectors
import socket
import threading
from typing import Any

from weirflow.storages import SqlStorage


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to a server, on one thread; the test can cut and restore it.

    ``cut()`` closes every forwarded connection and makes the proxy refuse new ones (accepted,
    then closed at once, and counted: :meth:`wait_refused` lets a test wait for a client's
    attempts instead of sleeping). ``restore()`` forwards new connections again. ``freeze()``
    makes the server "unreachable but open": every connection stays open, nothing more is
    forwarded either way, and new connections are accepted and left unanswered (a server
    that hangs, or a network that drops packets). Each command has taken effect when its call
    returns.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._commands: queue.SimpleQueue[tuple[str, threading.Event]] = queue.SimpleQueue()
        self._peers: dict[socket.socket, socket.socket] = {}
        self._up = True
        self._frozen = False
        self._held: list[socket.socket] = []  # accepted while frozen, never answered
        self._refused = 0
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="test TCP proxy")
        self._thread.start()

    def url(self, password: str | None = None) -> str:
        """A URL of the ``test`` database through the proxy (trust auth ignores a password)."""
        user = "postgres" if password is None else f"postgres:{password}"
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/test"

    @property
    def refused(self) -> int:
        with self._changed:
            return self._refused

    def wait_refused(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` connections in all have been refused."""
        with self._changed:
            return self._changed.wait_for(lambda: self._refused >= count, timeout)

    def cut(self) -> None:
        self._command("cut")

    def restore(self) -> None:
        self._command("restore")

    def freeze(self) -> None:
        self._command("freeze")

    def close(self) -> None:
        if self._thread.is_alive():
            self._command("stop")
            self._thread.join()
        self._listener.close()
        self._wake_reader.close()
        self._wake_writer.close()

    def _command(self, name: str) -> None:
        done = threading.Event()
        self._commands.put((name, done))
        self._wake_writer.send(b"!")
        assert done.wait(10), f"the proxy did not {name}"

    # -- the proxy's thread --------------------------------------------------------------------

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ, "accept")
        selector.register(self._wake_reader, selectors.EVENT_READ, "command")
        try:
            while True:
                for key, _events in selector.select():
                    if key.data == "accept":
                        self._accept(selector)
                    elif key.data == "command":
                        if not self._obey(selector):
                            return
                    else:
                        self._forward(selector, key.fileobj)  # type: ignore[arg-type]
        finally:
            self._drop_all(selector)
            selector.close()

    def _obey(self, selector: selectors.BaseSelector) -> bool:
        self._wake_reader.recv(1024)
        while True:
            try:
                name, done = self._commands.get_nowait()
            except queue.Empty:
                return True
            if name == "cut":
                self._up = False
                self._drop_all(selector)
            elif name == "restore":
                self._up = True
            elif name == "freeze":
                self._frozen = True
                for sock in self._peers:
                    selector.unregister(sock)
            done.set()
            if name == "stop":
                return False

    def _accept(self, selector: selectors.BaseSelector) -> None:
        try:
            client, _address = self._listener.accept()
        except BlockingIOError:
            return
        if self._frozen:
            self._held.append(client)
            return
        if not self._up:
            client.close()
            with self._changed:
                self._refused += 1
                self._changed.notify_all()
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        for sock in (client, upstream):
            sock.settimeout(None)
        self._peers[client], self._peers[upstream] = upstream, client
        selector.register(client, selectors.EVENT_READ, "pipe")
        selector.register(upstream, selectors.EVENT_READ, "pipe")

    def _forward(self, selector: selectors.BaseSelector, sock: socket.socket) -> None:
        peer = self._peers.get(sock)
        if peer is None:  # dropped earlier in this round
            return
        try:
            data = sock.recv(65536)
            if data:
                peer.sendall(data)
                return
        except OSError:
            pass
        self._drop(selector, sock)

    def _drop(self, selector: selectors.BaseSelector, sock: socket.socket) -> None:
        peer = self._peers.pop(sock, None)
        if peer is not None:
            self._peers.pop(peer, None)
        for each in (sock, peer):
            if each is not None:
                selector.unregister(each)
                each.close()

    def _drop_all(self, selector: selectors.BaseSelector) -> None:
        if self._frozen:  # nothing is registered any more
            for sock in self._peers:
                sock.close()
            self._peers.clear()
        while self._peers:
            self._drop(selector, next(iter(self._peers)))
        for sock in self._held:
            sock.close()
        self._held.clear()


class LogWatcher(logging.Handler):
    """Collects the messages of a logger from INFO up; a test can wait for the n-th one."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []
        self._changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        with self._changed:
            self.messages.append(text)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` messages have been logged."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.messages) >= count, timeout)

    def wait_for_text(self, text: str, timeout: float = 10.0, *, start: int = 0) -> bool:
        """Wait until a message holding ``text`` has been logged (from message ``start`` on)."""
        with self._changed:
            return self._changed.wait_for(
                lambda: any(text in m for m in self.messages[start:]), timeout
            )


def write_rows(storage: SqlStorage, worker: int, count: int) -> None:
    """Run in a worker process: save ``count`` records of ``worker``, one and ten at a time."""
    try:
        for n in range(0, count, 10):
            storage.save({"worker": worker, "n": n, "payload": {"worker": worker}})
            storage.save_many(
                [{"worker": worker, "n": m, "payload": None} for m in range(n + 1, n + 10)]
            )
    finally:
        storage.close()


def describe_pool(storage: SqlStorage) -> dict[str, Any]:
    """The pool's size and overflow limit, as the engine has them."""
    pool: Any = storage._get_engine().pool
    return {"size": pool.size(), "max_overflow": pool._max_overflow}
