"""A loopback TCP proxy that a test can cut and restore, to make one client lose ZooKeeper.

``cut()`` closes every proxied connection and refuses (accepts then closes) new ones, so the
client behind it sees SUSPENDED, and LOST once the server expired its session; ``restore()``
lets it reconnect. Other clients, connected to ZooKeeper directly, are unaffected.

``freeze()`` makes it a peer that accepts and never answers: connections stay open, but every
byte is swallowed (existing and new connections alike), as with a paused server or a silent
network partition. ``restore()`` closes the frozen connections and forwards new ones again.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._refusing = False
        self._frozen = False
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cut(self) -> None:
        with self._lock:
            self._refusing = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def freeze(self) -> None:
        with self._lock:
            self._frozen = True

    def restore(self) -> None:
        with self._lock:
            was_frozen, self._frozen = self._frozen, False
            self._refusing = False
            sockets = self._sockets if was_frozen else []
            if was_frozen:
                self._sockets = []
        for sock in sockets:  # their streams lost bytes while frozen: clients must reconnect
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._thread.join(5)
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                refusing, frozen = self._refusing, self._frozen
            if refusing:
                client.close()
                continue
            if frozen:  # accept, then never answer
                client.settimeout(None)
                with self._lock:
                    self._sockets.append(client)
                threading.Thread(target=self._pump, args=(client, None), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket | None) -> None:
        """Forward ``source`` to ``sink`` until either closes; swallow everything while frozen."""
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if sink is not None and not self._frozen:
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                if sock is None:
                    continue
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
