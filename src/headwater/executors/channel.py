"""The wire between the process executor and its workers: pickles over a socket pair.

Each message is an 8-byte big-endian length followed by that many bytes of pickle.
Only the standard library is imported here, so a worker starts without loading
``multiprocessing``.
"""

from __future__ import annotations

import pickle
import socket
import struct
from typing import Any

_HEADER = struct.Struct("!Q")
_SMALL = 64 * 1024  # up to this size the header and the body go out in one write
_SEND_FLAGS: int = getattr(socket, "MSG_NOSIGNAL", 0)  # EPIPE, not SIGPIPE, on Linux


def dumps(obj: Any) -> bytes:
    """Pickle ``obj`` for :meth:`Channel.send_bytes`."""
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


class Channel:
    """One end of a connected stream socket carrying length-prefixed pickles.

    A channel may have one thread sending and another receiving at the same time, but
    never two senders (or two receivers) at once.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()

    def send_bytes(self, data: bytes) -> None:
        """Send one message, already pickled (:func:`dumps`). Raises OSError if closed."""
        header = _HEADER.pack(len(data))
        if len(data) <= _SMALL:
            self.sock.sendall(header + data, _SEND_FLAGS)
        else:
            self.sock.sendall(header, _SEND_FLAGS)
            self.sock.sendall(data, _SEND_FLAGS)

    def send(self, obj: Any) -> None:
        self.send_bytes(dumps(obj))

    def recv_bytes(self) -> bytearray:
        """The next message, still pickled. Raises EOFError when the other end closed."""
        (size,) = _HEADER.unpack(self._read(_HEADER.size))
        return self._read(size)

    def recv(self) -> Any:
        return pickle.loads(self.recv_bytes())

    def close(self) -> None:
        self.sock.close()

    def _read(self, size: int) -> bytearray:
        buffer = bytearray(size)
        view = memoryview(buffer)
        while view:
            count = self.sock.recv_into(view)
            if count == 0:
                raise EOFError("the other end of the channel is closed")
            view = view[count:]
        return buffer
