"""Entry point of a fine-tune worker process: ``python -m tunewise_local._worker JOB_DIR``.

It runs in its own session, so it outlives the process that started it; SIGTERM asks it
to stop at the next step boundary, like the ``cancel`` file does.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType


def main(argv: list[str]) -> int:
    from tunewise_local._jobdir import JobDir
    from tunewise_local._training import run_job

    if len(argv) != 1:
        print("usage: python -m tunewise_local._worker JOB_DIR", file=sys.stderr)
        return 2
    job = JobDir(Path(argv[0]))
    terminated = False

    def on_term(signum: int, frame: FrameType | None) -> None:
        nonlocal terminated
        terminated = True

    signal.signal(signal.SIGTERM, on_term)
    run_job(job.root, stop=lambda: terminated or job.cancel_requested())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
