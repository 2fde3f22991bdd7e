"""Work done in a second process beside this one, so that a large pack or data set uses two cores.

``Beside(function, *args)`` forks a child that computes ``function(*args)`` while the
caller goes on with other work; ``result()`` then returns the child's value.
``stream_beside(produce)`` forks a child that makes the items of ``produce()`` and sends
each as it is made, so that the caller works on one while the child makes the next.
``Jobs(count, do)`` shares numbered jobs between a forked child and the caller, each job going
to whichever is free first. The child
is a copy of this process made by ``fork``, so it reads the pack already in memory and
nothing is sent to it; only its result (through a file without a name) or its items (through a
pipe) come back, and only as plain data (text, numbers, tuples, lists, dicts): unpickling refuses
anything else.

One process behaves exactly as two do, because the child's answer is used only when it
finished normally. Where ``fork`` is missing, where the machine has a single core, or
when the caller says the work is too small to be worth a process, ``result()`` computes
the value in this process, as it does when the system refuses to fork. If the child
fails in any way (an error in the work, a signal), ``result()`` computes the value here
too, so any error is raised here, as one process raises it, and a child never reports
anything itself. The child sends back nothing but its answer (files its work writes, the
package and app folder of a build, are the caller's to remove) and leaves with ``os._exit``,
so it runs none of this process's clean-up or exit code. Leaving the ``with`` block early (an error, Ctrl-C) kills and reaps the child, and
SIGTERM stops it before ending this process, so no process outlives the command.
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, as type checkers read it, without loading typing at every start
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, Iterator

# pickle and signal are imported where a process is forked: a small pack, which stays in one
# process, does not pay for them at start-up.


# Detections (or files to read) from which a second process pays: below, forking and the child's own start
# (a Jinja environment, its share's caches) cost about what they save. *unverified* beyond
# the packs measured: the shipped one-detection app and Splunk's 1,711-detection pack.
WORTH_A_PROCESS = 100


def stream_beside_if_large(produce: Callable[[], Iterable[Any]], *, items: int) -> Iterator[Any] | None:
    """``stream_beside``, forking only when ``items`` (files to read) reach WORTH_A_PROCESS."""
    return stream_beside(produce) if items >= WORTH_A_PROCESS else None


def two_cores() -> bool:
    """Whether a second process can run at the same time as this one."""
    import signal

    if not hasattr(os, "fork") or not hasattr(signal, "pthread_sigmask"):
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores > 1


def plain_loads(data: bytes) -> Any:
    """Unpickles plain data only: no class, function or other global may cross from the child."""
    import io

    return _plain_unpickler()(io.BytesIO(data)).load()


@functools.cache  # made once: a stream unpickles thousands of small items
def _plain_unpickler() -> type:
    import pickle

    class PlainUnpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            raise pickle.UnpicklingError(f"{module}.{name} is not plain data")

    return PlainUnpickler


class Beside:
    """``function(*args)``, computed in a forked child when ``fork`` is true and two cores exist.

    The child writes its answer to a file without a name made before the fork, and the pipe
    only says when it has finished: a pipe holds 64 KiB, so a child answering through it (the
    9 MB of savedsearches.conf stanzas that a large pack's rendering sends) would wait at every
    64 KiB for this process to read, and this process only reads once it has done its own work."""

    def __init__(self, function: Callable[..., Any], *args: Any, fork: bool = True):
        self.function, self.args = function, args
        self.pid: int | None = None
        self._pipe: int | None = None
        self._answer = None
        if fork and two_cores():
            self._start()

    def _start(self) -> None:
        import tempfile

        function, args = self.function, self.args
        try:
            answer = tempfile.TemporaryFile()
        except OSError:  # no writable temporary folder: this process does the work itself
            return

        def send(pipe) -> None:
            import pickle

            pickle.dump(function(*args), answer, protocol=pickle.HIGHEST_PROTOCOL)
            answer.flush()

        started = _fork(send)
        if started is None:
            answer.close()
            return
        self.pid, self._pipe = started
        self._answer = answer

    @property
    def forked(self) -> bool:
        return self.pid is not None

    def result(self) -> Any:
        if self.pid is None:
            return self.function(*self.args)
        # The pipe is forgotten before it is read and closed: closing the number again in cancel(),
        # after an interruption (Ctrl-C, or a SIGTERM handler that raises), would replace the
        # interruption by an error.
        read, self._pipe = self._pipe, None
        try:
            _wait_for_end(read)
        finally:
            os.close(read)
        pid, self.pid = self.pid, None  # an interruption from here on leaves it to the exit (_LIVE)
        status = _reap(pid)
        answer, self._answer = self._answer, None
        with answer:
            if os.waitstatus_to_exitcode(status) == 0 and answer.seek(0, os.SEEK_END):
                answer.seek(0)
                return _plain_unpickler()(answer).load()
        return self.function(*self.args)  # the child failed: done here, so any error is raised as one process raises it

    def cancel(self) -> None:
        """Stop the child, if any, and reap it."""
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        if self.pid is not None:
            _stop(self.pid)
            self.pid = None
        if self._answer is not None:
            self._answer.close()
            self._answer = None

    def __enter__(self) -> Beside:
        return self

    def __exit__(self, *exc_info) -> None:
        self.cancel()


MOST_JOBS = 256  # a job is claimed by reading its number, one byte, from a pipe


class Jobs:
    """``do(job)`` for the jobs ``0 .. count-1``, each done once, by whichever of this process and a
    forked child is free first: work whose share of each process cannot be known in advance.

    The child starts on the jobs at once. This process joins in the first time it asks for a
    result (``result``), taking the jobs left, then collects what the child did. A job that failed,
    in either process, or that a failed child had taken, is done again here when its result is
    asked, so its error is raised then: errors come in the order the caller asks for results, as
    from one process. Without a child, each job is done here when its result is asked. Jobs are
    claimed by reading their numbers from a pipe filled before the fork, one byte each: the system
    gives each byte of a pipe to one reader only."""

    def __init__(self, count: int, do: Callable[[int], Any], *, fork: bool = True):
        if not 0 <= count <= MOST_JOBS:
            raise ValueError(f"{count} jobs: at most {MOST_JOBS}")
        self.do = do
        self._done: dict[int, Any] | None = None
        self._claims = _filled_pipe(count) if fork and count and two_cores() else None
        self._child = Beside(self._take, fork=self._claims is not None)
        if not self._child.forked:
            self._close()

    def result(self, job: int) -> Any:
        if self._done is None:
            mine = self._take()
            self._done = self._child.result() | mine  # a failed child: Beside calls _take here, which finds none left
            self._close()
        if job not in self._done:
            self._done[job] = self.do(job)
        return self._done[job]

    def _take(self) -> dict[int, Any]:
        done = {}
        while self._claims is not None and (claimed := os.read(self._claims, 1)):
            try:
                done[claimed[0]] = self.do(claimed[0])
            except Exception:  # noqa: BLE001 - done again by result(), which raises it in the caller's order
                pass
        return done

    def _close(self) -> None:
        if self._claims is not None:
            os.close(self._claims)
            self._claims = None

    def __enter__(self) -> Jobs:
        return self

    def __exit__(self, *exc_info) -> None:
        self._child.cancel()
        self._close()


def _filled_pipe(count: int) -> int | None:
    """The read end of a pipe holding the bytes ``0 .. count-1`` and no writer left (so a read
    returns nothing once they are taken), or None when the system refuses a pipe."""
    try:
        read, write = os.pipe()
    except OSError:
        return None
    try:
        os.write(write, bytes(range(count)))  # far less than a pipe holds: never waits
    except BaseException:
        os.close(read)
        raise
    finally:
        os.close(write)
    return read


# How long a wait on a child's pipe lasts before this process runs the handlers of signals
# another thread took.
SIGNAL_CHECK_SECONDS = 0.2


def _wait_for_end(fd: int) -> None:
    """Wait until the child closes the pipe ``fd`` (it writes nothing to it: it ends). The wait
    is in slices: a signal that another thread takes (Ctrl-C, SIGTERM), or one that comes just
    before a read begins, interrupts no read of this thread, and its handler, which Python runs
    in this thread, would wait for the child to finish; at the end of each slice it runs."""
    import select

    while True:
        if select.select([fd], [], [], SIGNAL_CHECK_SECONDS)[0] and not os.read(fd, 1 << 16):
            return


def stream_beside(produce: Callable[[], Iterable[Any]]) -> Iterator[Any] | None:
    """The items of ``produce()``, made by a forked child while the caller works on those
    already sent: each goes through a pipe as plain data as soon as it is made (the pipe holds
    a few, so the child runs at most that far ahead). None where no child can be forked (no
    fork, one core, the system refuses): the caller then produces the items itself. A child
    that fails in any way (an error in ``produce``, a signal) makes the iteration raise
    ``ChildFailed`` after the items it sent, so that the caller can make the rest itself, as
    one process would. Closing the iterator early kills and reaps the child."""
    if not two_cores():
        return None

    def send(pipe) -> None:
        import pickle

        _widen(pipe)
        for item in produce():
            data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
            pipe.write(len(data).to_bytes(8, "little") + data)
            pipe.flush()

    started = _fork(send)
    if started is None:
        return None
    stream = _received(*started)
    next(stream)  # into its try block: closing the stream before its first item stops the child too
    return stream


class ChildFailed(Exception):
    """The child making a stream of items stopped before its last item."""


def _received(pid: int, read: int) -> Iterator[Any]:
    try:
        with os.fdopen(read, "rb") as pipe:
            yield None  # taken by stream_beside itself
            while len(head := pipe.read(8)) == 8:
                size = int.from_bytes(head, "little")
                data = pipe.read(size)
                if len(data) < size:
                    break
                yield plain_loads(data)
        done, pid = pid, None  # an interruption from here on leaves it to the exit (_LIVE)
        if os.waitstatus_to_exitcode(_reap(done)) != 0:
            raise ChildFailed(f"process {done} stopped before its last item")
    finally:
        if pid is not None:
            _stop(pid)


def _widen(pipe) -> None:
    """A pipe of 1 MiB rather than 64 KiB, where Linux allows it: a few batches of events fit
    in it, so the child goes on reading while the caller works on them."""
    import fcntl

    try:
        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except OSError:  # pragma: no cover - not Linux, or above the system's limit: the default pipe
        pass


@contextlib.contextmanager
def interruptions_held() -> Iterator[Any]:
    """Ctrl-C and SIGTERM held in this thread for the ``with`` block, then let through: one that came
    meanwhile interrupts once the block is done. Yields the mask the block ends with (a forked child
    sets it itself), or None where signals cannot be held. The mask is read before it is changed
    inside the try: a signal handled as the call holding them returns still finds it put back."""
    import signal

    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows: nothing to hold
        yield None
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, ())
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        yield mask
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _fork(send: Callable[[Any], None]) -> tuple[int, int] | None:
    """Fork a child that calls ``send`` with the write end of a pipe (a binary file) and leaves;
    (its pid, the read end) or None when the system refuses the pipe or the fork."""
    # Ctrl-C and SIGTERM wait until the child is known: one that came between the fork and the
    # bookkeeping would leave a child nobody stops (the child itself starts with an empty
    # set of pending signals, and unblocks them once it is ready to stop at one). The mask
    # holds them in this thread only: with another thread running, Python may still raise
    # here, and the unknown child then leaves once this process has (_leave_when_orphaned).
    # A signal that came while they were held is handled as the block lets them through, before the
    # caller knows the child: that child is stopped then.
    import signal

    caller = os.getpid()
    started = None
    try:
        with interruptions_held() as mask:
            try:
                read, write = os.pipe()
            except OSError:  # out of file descriptors: this process does the work itself
                return None
            try:
                pid = os.fork()
            except OSError:  # a process limit, or no memory for a copy: this process does the work
                os.close(read)
                os.close(write)
                return None
            if pid == 0:
                os.close(read)
                _serve(write, send, mask, caller)  # never returns
            _LIVE.add(pid)
            _stop_children_on_sigterm(signal)
            os.close(write)
            started = pid, read
    except BaseException:
        if started is not None:
            _stop(started[0])
            os.close(started[1])
        raise
    return started


# Children forked and not yet reaped: stopped when this process exits, however it leaves
# (an interruption between making a Beside and entering its ``with`` block, say).
_LIVE: set[int] = set()


def _stop(pid: int) -> None:
    import signal

    if pid not in _LIVE:  # reaped already: by the exit's clean-up, before a generator's own
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:  # pragma: no cover - it has already exited, not yet reaped
        pass
    _reap(pid)


def _reap(pid: int) -> int:
    """Wait for the child ``pid`` and forget it. It is forgotten once it has ended but before it
    is reaped, while its number cannot yet be another process's: an interruption anywhere
    leaves either a child still known, which the exit kills and reaps, or an ended one that
    nobody stops. Holding Ctrl-C and SIGTERM would not do: a thread's mask holds them in that
    thread only, and with another thread running (a progress report, a reading thread) Python
    raises KeyboardInterrupt here all the same."""
    if not hasattr(os, "waitid"):  # pragma: no cover - macOS: held signals, right in one thread
        return _reap_held(pid)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # ended, not yet reaped
    _LIVE.discard(pid)
    return os.waitpid(pid, 0)[1]  # at once


def _reap_held(pid: int) -> int:
    with interruptions_held():
        _, status = os.waitpid(pid, 0)
        _LIVE.discard(pid)
    return status


@atexit.register
def _stop_all() -> None:
    for pid in list(_LIVE):
        _stop(pid)


def _stop_children_on_sigterm(signal) -> None:
    """SIGTERM kills a process without running its exit code, so ``_stop_all`` would never stop
    the children: a handler stops them first, then the process ends by SIGTERM as it would have.
    A handler the process set itself (one that cleans up and exits) is kept."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        try:
            signal.signal(signal.SIGTERM, _terminated)
        except ValueError:  # pragma: no cover - not the main thread, where only the default applies
            pass


def _terminated(signum: int, frame) -> None:
    import signal

    _stop_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _serve(write: int, send: Callable[[Any], None], mask: set, caller: int) -> None:
    """In the child: send through the pipe, leave. Nothing escapes into the caller's stack."""
    code = 1
    try:
        import signal

        # Ctrl-C reaches the whole process group: the child just stops, the caller reports it.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the caller's handler, which stops its children
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        silence = open(os.devnull, "w")  # whatever the work would print, the caller prints it
        os.dup2(silence.fileno(), 1)
        os.dup2(silence.fileno(), 2)
        sys.stdout = sys.stderr = silence
        _leave_when_orphaned(caller)
        with os.fdopen(write, "wb") as pipe:
            send(pipe)
        code = 0
    except BaseException:  # noqa: BLE001 - reported by the caller, which computes the value itself
        pass
    finally:
        os._exit(code)


# How often a child looks whether its caller is still there.
ORPHAN_CHECK_SECONDS = 0.2


def _leave_when_orphaned(caller: int) -> None:
    """In the child: leave once the caller is gone. A caller killed outright (SIGKILL) stops
    no child, and its closed pipe stops one only at its next write, which may be long in
    coming (a read through a file without line ends, a value computed for minutes); the
    child then has a new parent (init, or a subreaper)."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == caller:
            time.sleep(ORPHAN_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="caller-watch", daemon=True).start()
