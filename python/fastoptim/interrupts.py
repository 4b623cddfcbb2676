"""Ctrl-C held back while a step that runs Python between its C++ passes writes its buffers.

Most steps are one C++ call, which a ``KeyboardInterrupt`` cannot split. Some have Python work
around it that belongs to the step: Muon's Newton–Schulz products between its two passes, work
copies written back to params with gaps, torch's int step counts (SparseAdam) and LAMB's group
steps written back, averages of weights (``ema_decay``), SGD's sparse steps. A Ctrl-C in the
middle would leave such a step half done. Inside :func:`deferred_interrupt` a SIGINT is recorded
instead and raised as ``KeyboardInterrupt`` when the step is complete, so that a step is applied
whole or (on an error) not at all.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Within the block, Ctrl-C (SIGINT) is held and raised as ``KeyboardInterrupt`` after it.

    Only Python's default SIGINT handling is deferred, and only on the main thread (the one
    signals are delivered to); a program with its own SIGINT handler keeps it untouched."""
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    held: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if held:
        raise KeyboardInterrupt


def deferred_interrupt_if(needed: bool) -> contextlib.AbstractContextManager[None]:
    """:func:`deferred_interrupt` where a step has Python work after its C++ call (copies back,
    step counts written back, averages of weights), else nothing (the lean path pays nothing)."""
    return deferred_interrupt() if needed else contextlib.nullcontext()
