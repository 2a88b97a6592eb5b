"""A library connection opened on first use, shared by one service's methods under one lock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar, cast

if TYPE_CHECKING:
    from core.store import Library

T = TypeVar("T")


class LazyLibrary(Generic[T]):
    """Opens a library (and what a service builds on it) on first use; closes both together.

    Services run on worker threads; each holds :attr:`lock` while it uses the connection, so
    one connection is never used by two threads at once.
    """

    def __init__(self, directory: Path, attach: Callable[[Library], T]) -> None:
        """Bind to ``directory``; ``attach`` builds the service's object on the open library."""
        self.directory = directory
        self.lock = threading.Lock()
        self._attach = attach
        self._library: Library | None = None
        self._value: T | None = None

    @property
    def is_open(self) -> bool:
        """Whether the connection exists yet."""
        return self._library is not None

    def open(self) -> tuple[Library, T]:
        """The open library and the attached object (opened on first call; hold :attr:`lock`).

        Raises:
            LibraryError: The directory or database cannot be used.
        """
        if self._library is None:
            from core.store import Library

            library = Library(self.directory)
            try:
                self._value = self._attach(library)
            except BaseException:
                library.close()
                raise
            self._library = library
        return self._library, cast(T, self._value)

    def close(self) -> None:
        """Close the connection (it reopens on next use)."""
        with self.lock:
            if self._library is not None:
                self._library.close()
            self._library = self._value = None


def no_attachment(library: Library) -> None:
    """For services that need only the library itself."""
