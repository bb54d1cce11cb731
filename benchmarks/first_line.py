"""Time to the first line: seconds from starting a command to its first line of output.

What a user waits before the command shows a sign of life. Each command runs in a fresh process
on a pseudo-terminal (as in a shell: the progress display is on), and is stopped as soon as its
first line (ended by a newline or a carriage return) has arrived. The commands run in alternating
rounds after one unrecorded round; medians over `--repeats`. Python's bytecode cache is on for
them, as on a user's machine, even where PYTHONDONTWRITEBYTECODE is set (it is on this machine),
and the unrecorded round fills it. The persistent compilation cache is irrelevant here: the first
line comes before anything compiles.

    python benchmarks/first_line.py [--repeats 5]
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import statistics
import sys
import tempfile
import time

import common

COMMANDS = {
    "purejaxrl --help": ["-m", "purejaxrl", "--help"],
    "ppo --help": ["-m", "purejaxrl", "ppo", "--help"],
    "ppo CartPole-v1, 8 seeds": [
        "-m", "purejaxrl", "ppo", "--num-seeds", "8", "--total-timesteps", "512000",
    ],
    "dqn Breakout-MinAtar": ["-m", "purejaxrl", "dqn", "--env-id", "Breakout-MinAtar"],
}  # fmt: skip


def first_line(argv: list[str], timeout_s: float = 120.0) -> tuple[float, str]:
    """(seconds to the first byte of output, the first line) of `python argv` on a pty."""
    start = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        os.execve(sys.executable, [sys.executable, *argv], env)
    received, first_byte = b"", None
    try:
        while b"\n" not in received and b"\r" not in received:
            ready, _, _ = select.select([fd], [], [], timeout_s)
            if not ready:
                raise TimeoutError(f"{argv}: no line within {timeout_s} s")
            data = os.read(fd, 4096)
            if not data:
                break
            if first_byte is None:
                first_byte = time.perf_counter() - start
            received += data
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
    text = re.sub(r"\x1b\[[0-9;]*m", "", received.decode(errors="replace"))  # colours
    line = text.replace("\r", "\n").strip().splitlines()
    return first_byte, line[0] if line else ""


def main() -> None:
    parser = common.argument_parser(__doc__, repeats=5)
    args = parser.parse_args()
    runs_dir = tempfile.mkdtemp(prefix="first-line-")
    times = {name: [] for name in COMMANDS}
    lines = {}
    for round_ in range(args.repeats + 1):
        for name, argv in COMMANDS.items():
            if "--help" not in argv:
                argv = [*argv, "--runs-dir", runs_dir]
            seconds, lines[name] = first_line(argv)
            if round_ > 0:  # the first round fills the bytecode cache
                times[name].append(seconds)
                common.report(name, {"seconds": round(seconds, 3), "line": lines[name]})
    rows = {
        name: {"median_s": statistics.median(t), "runs_s": t, "first_line": lines[name]}
        for name, t in times.items()
    }
    for name, row in rows.items():
        print(f"{name:<28} {row['median_s']:.2f} s   {row['first_line'][:70]}")
    common.write_record("first_line", {"command": common.command(args), "commands": rows})


if __name__ == "__main__":
    main()
