"""Child processes that cannot outlive the process that started them."""

import ctypes
import os
import signal
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: signal.Signals) -> Callable[[], None]:
    """A preexec_fn: the kernel sends `sig` to the child when its parent dies, even by SIGKILL.

    The setting belongs to the thread that spawns the child, so spawn from the main thread.
    """
    parent = os.getpid()

    def preexec() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec
