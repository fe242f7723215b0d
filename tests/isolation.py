"""Run a piece of the library in a forked child, so that a crash, a hang or a memory blow-up fails one test
instead of taking the test run down; report its exit status, its output and how much memory it added."""
from __future__ import annotations

import io
import os
import resource
import signal
import sys
import tempfile
import traceback
from dataclasses import dataclass

CRASHED = 70  # exit code of a child whose function raised (its traceback is on stderr)


@dataclass
class ChildResult:
    code: int | None          # exit code, None when a signal ended it
    signal: int | None
    out: str
    err: str
    rss_growth_mb: float      # peak resident memory of the child above the parent's at the fork

    def error_lines(self) -> list[str]:
        """Lines a terminal would show on stderr (progress-bar redraws folded away)."""
        return [line.rsplit("\r", 1)[-1] for line in self.err.split("\n") if line.rsplit("\r", 1)[-1].strip()]

    def describe(self) -> str:
        how = f"signal {signal.Signals(self.signal).name}" if self.signal else f"exit {self.code}"
        return f"{how}, +{self.rss_growth_mb:.0f} MB, stderr: {self.err[-2000:]!r}"


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def run_in_child(fn, *args, timeout_s: int = 60, memory_headroom_mb: int = 3000) -> ChildResult:
    """fn(*args) in a forked child; its return value is the exit code. stdout/stderr are captured.

    The child stops itself after `timeout_s` (SIGALRM) and may not grow its address space by more than
    `memory_headroom_mb` (beyond that allocations fail), so a hostile case cannot hurt the machine.
    """
    rss_kb = _status_kb("VmRSS")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = CRASHED
            try:
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True)
                sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True)
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
                signal.alarm(timeout_s)
                limit = _status_kb("VmSize") * 1024 + memory_headroom_mb * 2 ** 20
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
                import torch

                torch.set_num_threads(1)
                result = fn(*args)
                code = int(result or 0)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        _, status, usage = os.wait4(pid, 0)
        out.seek(0)
        err.seek(0)
        return ChildResult(
            code=os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None,
            signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            out=out.read().decode("utf-8", "replace"), err=err.read().decode("utf-8", "replace"),
            rss_growth_mb=max(0, usage.ru_maxrss - rss_kb) / 1024)
