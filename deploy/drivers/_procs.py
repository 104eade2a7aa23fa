"""Linux process helpers for the local driver: identity checks through ``/proc``, signalling a
node's whole session, and reaping our own zombies.

A node is started as a session leader (``start_new_session=True``), so the node process and
the CometBFT child it spawns share one session id equal to the node's pid. Linux never hands
out a pid while it is still in use as a session id, so "every process whose session is our
recorded pid" is exactly the node and its children, even after the leader has died.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

PROC = Path("/proc")
# Exit codes of our children that we reaped, by pid: reaping takes the status away from
# anyone else, so it is kept here for inspect to report.
exit_codes: dict[int, int] = {}


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state is index 0)."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may contain spaces or ')': split after the last.
    return raw[raw.rfind(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """Kernel start time of ``pid`` in clock ticks since boot (field 22 of stat)."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def cmdline(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def reap(pid: int) -> int | None:
    """Collect ``pid`` if it is our exited child; returns its exit code when it was reaped."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child (e.g. started before a control-plane restart)
        return None
    if done == 0:
        return None
    exit_codes[pid] = os.waitstatus_to_exitcode(status)
    return exit_codes[pid]


def is_alive(pid: int) -> bool:
    """True for a live process; zombies count as dead (they are reaped on the way)."""
    fields = _stat_fields(pid)
    if fields is None:
        return False
    if fields[0] in ("Z", "X"):
        reap(pid)
        return False
    return True


def is_our_node(pid: int, *, started: int | None, home_args: list[str]) -> bool:
    """The pid is alive, was started when we recorded, and runs with our ``--home`` args."""
    if not is_alive(pid):
        return False
    if started is not None and start_time(pid) != started:
        return False  # the pid was reused by another process
    args = cmdline(pid)
    return len(args) >= len(home_args) and args[-len(home_args) :] == home_args


def wait_for_exec(pid: int, home_args: list[str], timeout: float = 5.0) -> None:
    """Wait until ``pid`` shows its new command line.

    Popen returns once exec has begun, but the kernel fills in the new argument area a
    moment later; reading /proc/<pid>/cmdline in between gives nothing, which the identity
    check would take for "not our node".
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and is_alive(pid):
        args = cmdline(pid)
        if args[-len(home_args) :] == home_args:
            return
        time.sleep(0.005)


def processes_under(prefix: Path | str) -> dict[int, tuple[int, list[str]]]:
    """Live processes started with ``--home`` inside ``prefix``: pid -> (session id, args).

    This finds a node's processes even without a pid file: a control plane killed between
    spawning a node and recording its pid, or a node dir removed under a running node.
    """
    root = str(prefix).rstrip("/") + "/"
    found: dict[int, tuple[int, list[str]]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        args = cmdline(pid)
        for i, arg in enumerate(args[:-1]):
            if arg == "--home" and (args[i + 1] + "/").startswith(root):
                fields = _stat_fields(pid)
                if fields and len(fields) > 3 and fields[0] not in ("Z", "X"):
                    found[pid] = (int(fields[3]), args)
                break
    return found


def session_members(sid: int) -> list[int]:
    """Live pids whose session id is ``sid`` (the node and the processes it started)."""
    members = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        # state, ppid, pgrp, session
        if fields and len(fields) > 3 and fields[3] == str(sid) and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def terminate_sessions(sids: list[int], *, timeout: float) -> None:
    """SIGTERM every member of the given sessions, SIGKILL whatever is left after ``timeout``.

    Sessions are stopped together so deleting a 4-node network costs one timeout, not four.
    """

    def signal_all(sig: int) -> bool:
        any_left = False
        for sid in sids:
            for pid in session_members(sid):
                any_left = True
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        return any_left

    if not signal_all(signal.SIGTERM):
        for sid in sids:
            reap(sid)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for sid in sids:
            reap(sid)
        if not any(session_members(sid) for sid in sids):
            return
        time.sleep(0.1)
    signal_all(signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(session_members(sid) for sid in sids):
        for sid in sids:
            reap(sid)
        time.sleep(0.05)
    for sid in sids:
        reap(sid)
