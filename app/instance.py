"""One app per library: a second ``mediamind gui`` hands its ``--import`` paths to the first.

The first instance listens on a local socket named after the library directory (and the
user); a later one connects, sends its paths as one JSON line and exits. A stale socket left
by a crashed instance is removed and taken over.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

CONNECT_MS = 1_000


def server_name(directory: Path) -> str:
    """The local socket name of the app open on ``directory`` (one per user and library)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid
        user = "user"
    key = f"{user}\0{Path(directory).expanduser().resolve()}"
    return "mediamind-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


def hand_over(directory: Path, paths: list[Path], timeout_ms: int = CONNECT_MS) -> bool:
    """Give ``paths`` to the app already open on ``directory``; False when there is none."""
    socket = QLocalSocket()
    socket.connectToServer(server_name(directory))
    if not socket.waitForConnected(timeout_ms):
        return False
    message = {"import": [str(Path(p).expanduser().resolve()) for p in paths]}
    socket.write((json.dumps(message) + "\n").encode("utf-8"))
    socket.flush()
    socket.waitForBytesWritten(timeout_ms)
    # The first instance hangs up once it has read the message: nothing is lost on exit.
    if socket.state() == QLocalSocket.LocalSocketState.UnconnectedState:
        return True
    return socket.waitForDisconnected(timeout_ms * 5)


class InstanceServer(QObject):
    """Listens for later instances; ``import_requested`` carries the paths they were given."""

    import_requested = Signal(list)  # list[Path]
    activated = Signal()

    def __init__(self, directory: Path, parent: QObject | None = None) -> None:
        """Bind to ``directory``; call :meth:`listen` to start."""
        super().__init__(parent)
        self.name = server_name(directory)
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._accept)
        self._buffers: dict[QLocalSocket, bytes] = {}

    def listen(self) -> bool:
        """Start listening (taking over a stale socket); False if that is impossible."""
        if self.server.listen(self.name):
            return True
        QLocalServer.removeServer(self.name)  # left by an instance that crashed
        if self.server.listen(self.name):
            return True
        log.warning("single-instance socket %s: %s", self.name, self.server.errorString())
        return False

    def close(self) -> None:
        """Stop listening."""
        self.server.close()

    def _accept(self) -> None:
        while (socket := self.server.nextPendingConnection()) is not None:
            self._buffers[socket] = b""
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(lambda s=socket: self._drop(s))

    def _read(self, socket: QLocalSocket) -> None:
        data = self._buffers.get(socket, b"") + bytes(socket.readAll().data())
        if b"\n" not in data:
            self._buffers[socket] = data
            return
        line = data.split(b"\n", 1)[0]
        self._buffers[socket] = b""
        try:
            paths = [Path(p) for p in json.loads(line.decode("utf-8")).get("import", [])]
        except (ValueError, AttributeError, TypeError) as exc:
            log.warning("ignored a malformed message from another instance: %s", exc)
            paths = []
        socket.disconnectFromServer()
        self.activated.emit()
        if paths:
            self.import_requested.emit(paths)

    def _drop(self, socket: QLocalSocket) -> None:
        self._buffers.pop(socket, None)
        socket.deleteLater()
