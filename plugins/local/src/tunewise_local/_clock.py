"""Compute time per request: what prices a local model (``Usage.compute_s``).

Requests answered together share the machine, so each one is charged an equal share of
the time while it is in flight: with ``n`` requests in flight, every second costs each
of them ``1/n`` of a second. Added up over the requests, that is exactly the time the
machine was busy answering, however the engine batches them; a request alone is charged
its whole latency. The clock is process-wide: every local provider in a process shares
the same CPU or GPU.
"""

from __future__ import annotations

import threading
import time


class ComputeClock:
    """A running integral of ``dt / in_flight``; a request's share is the difference between its end and start."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._share = 0.0
        self._last = time.perf_counter()

    def _advance(self) -> float:
        now = time.perf_counter()
        if self._in_flight:
            self._share += (now - self._last) / self._in_flight
        self._last = now
        return self._share

    def start(self) -> float:
        """A request enters; keep the returned mark for `stop()`."""
        with self._lock:
            mark = self._advance()
            self._in_flight += 1
            return mark

    def stop(self, mark: float) -> float:
        """The request ``mark`` leaves; its share of the machine's time since `start()`, in seconds."""
        with self._lock:
            share = self._advance() - mark
            self._in_flight = max(0, self._in_flight - 1)
            return share


CLOCK = ComputeClock()
"""The one clock of this process."""


def device_kind(device: str) -> str:
    """``cpu``, or the GPU's name (``NVIDIA H100 80GB HBM3``) for a CUDA device; what picks the hourly rate."""
    if device.startswith("cuda"):
        import torch

        index = int(device.partition(":")[2] or 0)
        return str(torch.cuda.get_device_name(index))
    return "cpu" if device == "cpu" else device
