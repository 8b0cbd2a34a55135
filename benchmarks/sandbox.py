"""Where a detector runs: a bubblewrap sandbox in which only its inputs exist.

Every detector, a Python plug-in (the worker process of :mod:`benchmarks.worker`) or an
``exec:`` program, runs under ``bwrap`` with:

- ``/input/events``, ``/input/context`` and ``/input/info.json``: read-only binds of a scratch
  folder holding *copies* (reflinks where the filesystem can) of the dataset's events and context,
  never hard links, never the dataset's folders (their path would show in ``/proc/self/mountinfo``);
- ``/output`` (its job file, scores and status), ``/work`` (the working directory, ``HOME``) and
  ``/tmp``: private writable folders of the scratch space, on disk;
- the system (``/usr``, ``/etc``, ``/lib*``), the Python interpreter, the virtual environment and
  the code it imports, read-only; paths the SPEC names (a program, a model file) read-only,
  unless they hold or sit in the dataset or its truth;
- new pid, network, IPC, UTS and (where possible) cgroup namespaces, a new session, no
  capabilities, and death with the harness (``--die-with-parent``);
- an environment reduced to :data:`PASSED_ENV` plus ``PATH``, ``HOME`` and ``TMPDIR``.

The memory limit holds for the whole process tree: in a cgroup v2 child group (``memory.max``,
no swap, the group killed together) where the harness may create one, else by ``RLIMIT_AS`` on
every process (the limit plus :data:`AS_HEADROOM`, so one huge allocation fails at once) and a
watchdog that sums the proportional set size of every process in the sandbox each
:data:`POLL_S` seconds and kills the sandbox past the limit.

Killing the sandbox kills the pid namespace's init, which takes every process in it down,
``setsid`` children included. Where ``bwrap`` is missing or cannot create namespaces (or
``SNOOPBENCH_SANDBOX=off``, for measuring the sandbox's cost), detectors run unsandboxed on the
same copies, in a private working directory, with the same environment and memory watchdog,
and the run is marked ``isolation: weak``.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import importlib.util
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from snoopbench.benchmarks.proctree import Cgroup, alive, cgroup_parent, descendants, tree_memory

#: ``SNOOPBENCH_SANDBOX=off`` runs detectors unsandboxed (results marked weak): for measurements.
SWITCH = "SNOOPBENCH_SANDBOX"
#: Variables passed into the sandbox when the harness has them; everything else is cleared.
PASSED_ENV = ("LANG", "LC_ALL", "TZ", "PYTHONHASHSEED", "OMP_NUM_THREADS",
              "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: Address space each process may hold beyond the limit: an interpreter with numpy and pyarrow
#: maps far more than it uses. The watchdog's sum of what is resident is the real limit.
AS_HEADROOM = 1 << 30
POLL_S = 0.05
SCRATCH_PREFIX = "snoopbench-"
INPUT, OUTPUT, WORK, TMP = "/input", "/output", "/work", "/tmp"
_FICLONE = 0x40049409
_NAMESPACES = ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
               "--unshare-cgroup-try", "--die-with-parent", "--new-session")


@dataclass(frozen=True)
class Isolation:
    """How detectors run here: ``strong`` (bwrap) or ``weak`` (why), and how memory is held."""

    level: str
    reason: str | None
    memory: str  # "cgroup" or "watchdog"


@functools.cache
def probe() -> Isolation:
    """Whether bwrap works here (tried once per process), and the memory enforcement."""
    memory = "cgroup" if cgroup_parent() is not None else "watchdog"
    if os.environ.get(SWITCH, "").lower() in ("off", "0", "no"):
        return Isolation("weak", f"the sandbox is turned off ({SWITCH}=off)", memory)
    exe = shutil.which("bwrap")
    if exe is None:
        return Isolation("weak", "bwrap (bubblewrap) is not installed", memory)
    try:
        proc = subprocess.run([exe, *_NAMESPACES, *_system_binds(), "--proc", "/proc",
                               "--dev", "/dev", "true"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Isolation("weak", f"bwrap cannot run ({exc})", memory)
    if proc.returncode != 0:
        why = proc.stderr.decode(errors="replace").strip() or f"exit code {proc.returncode}"
        return Isolation("weak", f"bwrap cannot create a sandbox here ({why})", memory)
    return Isolation("strong", None, memory)


def weak_warning(iso: Isolation) -> str:
    return (f"WARNING: detectors ran WITHOUT a sandbox: {iso.reason}. They could read the "
            "truth and other files; results are marked isolation: weak (install bubblewrap, "
            "or pass --require-sandbox to refuse)")


def _system_binds() -> list[str]:
    args: list[str] = []
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    return args


# -- scratch space ---------------------------------------------------------------------------

class Scratch:
    """A scoring run's scratch folder: copies of the inputs, and one folder per job.

    ``/tmp/snoopbench-XXXX/input/{events,context,info.json}`` and ``jobs/<n>/{output,work,tmp}``;
    :meth:`remove` (also on leaving the ``with`` block) deletes it all.
    """

    def __init__(self, parts: Sequence[Path], context_dir: Path, info: dict[str, Any]) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
        try:
            self.events, self.context = self.root / "input/events", self.root / "input/context"
            self.info = self.root / "input/info.json"
            self.events.mkdir(parents=True)
            self.context.mkdir()
            for part in parts:
                _clone(Path(part), self.events / Path(part).name)
            for table in sorted(Path(context_dir).glob("*.parquet")):
                _clone(table, self.context / table.name)
            self.info.write_text(json.dumps(info, indent=2) + "\n")
            for f in (*self.events.iterdir(), *self.context.iterdir(), self.info):
                f.chmod(0o444)
        except BaseException:
            self.remove()
            raise
        self._n = 0

    def job_dir(self) -> Path:
        """A new job's folder, with its ``output``, ``work`` and ``tmp``."""
        self._n += 1
        d = self.root / "jobs" / str(self._n)
        for sub in ("output", "work", "tmp"):
            (d / sub).mkdir(parents=True)
        return d

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def _clone(src: Path, dst: Path) -> None:
    """A copy of ``src`` that shares no inode with it: a reflink where possible, else bytes."""
    with open(src, "rb") as s, open(dst, "wb") as d:
        try:
            fcntl.ioctl(d.fileno(), _FICLONE, s.fileno())
            return
        except OSError:
            pass
    shutil.copyfile(src, dst)


# -- what to bind ----------------------------------------------------------------------------

def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def code_paths(modules: Sequence[str]) -> list[str]:
    """Folders the sandboxed interpreter needs: its prefixes, ``sys.path``, and the folders of
    ``modules`` and their parent packages (editable installs map them anywhere)."""
    found = [sys.prefix, sys.base_prefix, *[p for p in sys.path if p and os.path.isabs(p)]]
    for name in modules:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            try:
                spec = importlib.util.find_spec(".".join(parts[:i]))
            except (ImportError, ValueError):
                spec = None
            if spec is None:
                break
            if spec.submodule_search_locations:
                found += list(spec.submodule_search_locations)
            elif spec.origin and os.path.isabs(spec.origin):
                found.append(spec.origin)
    return [p for p in dict.fromkeys(found) if os.path.exists(p)]


#: Host trees never bound by name: the kernel's and the system's live state.
_PSEUDO = tuple(Path(p) for p in ("/proc", "/sys", "/dev", "/run", "/var/run"))
#: What the sandbox mounts itself: a name may not cover or replace one of these.
_MOUNTS = tuple(Path(p) for p in (INPUT, OUTPUT, WORK, TMP, *SYSTEM_DIRS))


def named_paths(words: Sequence[str], cwd: Path) -> list[tuple[Path, str]]:
    """Existing files and folders a SPEC names (``word`` or ``--opt=word``), each with where it
    goes in the sandbox: an absolute path stays put; a relative one goes under ``/work``.
    Names in ``/proc``, ``/sys``, ``/dev``, ``/run``, and names that would cover one of the
    sandbox's own mounts (``/``, ``/tmp``, ``/usr``...), are left out."""
    out: list[tuple[Path, str]] = []
    for word in words:
        for cand in {word, word.partition("=")[2]} - {""}:
            p = Path(cand)
            host = p if p.is_absolute() else cwd / p
            if not host.exists() or (not p.is_absolute() and ".." in p.parts):
                continue
            real = host.resolve()
            inside = Path(os.path.normpath(cand if p.is_absolute() else f"{WORK}/{cand}"))
            if any(_inside(real, q) or _inside(host, q) for q in _PSEUDO) or any(
                    _inside(m, inside) for m in _MOUNTS) or _inside(inside, Path(INPUT)) or \
                    _inside(inside, Path(OUTPUT)):
                continue
            out.append((real, str(inside)))
    return out


def refuse(path: Path, secret: Sequence[Path]) -> bool:
    """True if binding ``path`` would show a ``secret`` folder (the dataset, its truth)."""
    real = Path(os.path.realpath(path))
    return any(_inside(real, s) or _inside(s, real) for s in secret)


# -- the sandbox -----------------------------------------------------------------------------

@dataclass
class Launch:
    """One detector's process to start: ``argv`` sees the inputs at ``/input``, ``/output``."""

    argv: list[str]
    job_dir: Path
    code: list[str] = field(default_factory=list)  # host paths, bound read-only at their place
    named: list[tuple[Path, str]] = field(default_factory=list)  # (host, inside) read-only


class Sandbox:
    """A started detector process tree: poll it (the memory watchdog runs then), kill it."""

    def __init__(self, launch: Launch, scratch: Scratch, iso: Isolation,
                 mem_limit_mb: int | None) -> None:
        self.iso, self.job_dir = iso, launch.job_dir
        self.limit = mem_limit_mb * 2**20 if mem_limit_mb else None
        self.over_memory = False
        self.peak_bytes = 0
        self._init_pid: int | None = None
        self._cgroup = Cgroup.create(self.limit) if self.limit and iso.memory == "cgroup" else None
        self._log = open(launch.job_dir / "sandbox-stderr.txt", "wb")
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        env.setdefault("LANG", "C.UTF-8")
        path = os.pathsep.join(dict.fromkeys([os.path.dirname(sys.executable),
                                              "/usr/local/bin", "/usr/bin", "/bin"]))
        if iso.level == "strong":
            self._start_bwrap(launch, scratch, {**env, "PATH": path, "HOME": WORK, "TMPDIR": TMP})
        else:
            self._start_plain(launch, {**env, "PATH": path, "HOME": str(launch.job_dir / "work"),
                                       "TMPDIR": str(launch.job_dir / "tmp")})

    def _preexec(self) -> None:  # in the child, before exec: joins the limits it passes down
        if self._cgroup is not None:
            self._cgroup.join()
        elif self.limit is not None:
            cap = self.limit + AS_HEADROOM
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    def _start_bwrap(self, launch: Launch, scratch: Scratch, env: dict[str, str]) -> None:
        args = [*_NAMESPACES, "--hostname", "sandbox", "--clearenv"]
        for k, v in env.items():
            args += ["--setenv", k, v]
        args += [*_system_binds(), "--proc", "/proc", "--dev", "/dev",
                 "--bind", str(launch.job_dir / "work"), WORK,
                 "--bind", str(launch.job_dir / "tmp"), TMP,
                 "--bind", str(launch.job_dir / "output"), OUTPUT,
                 "--ro-bind", str(scratch.events), f"{INPUT}/events",
                 "--ro-bind", str(scratch.context), f"{INPUT}/context",
                 "--ro-bind", str(scratch.info), f"{INPUT}/info.json"]
        system = tuple(d + "/" for d in SYSTEM_DIRS)
        for host in launch.code:
            if not (host + "/").startswith(system):
                args += ["--ro-bind", host, host]
        code = tuple(Path(c) for c in launch.code)
        for host, inside in launch.named:  # unless already there (a program in the venv)
            if not (inside + "/").startswith(system) and not any(
                    _inside(Path(inside), c) for c in code):
                args += ["--ro-bind", str(host), inside]
        args += ["--chdir", WORK]
        # The options go through a pipe: bwrap's command line (seen as pid 1's inside) stays short.
        arg_r, arg_w = os.pipe()
        info_r, info_w = os.pipe()
        with os.fdopen(arg_w, "wb") as fh:
            fh.write(b"".join(a.encode() + b"\0" for a in args))
        os.set_blocking(info_r, False)
        try:
            self.proc = subprocess.Popen(
                [shutil.which("bwrap") or "bwrap", "--args", str(arg_r), "--info-fd", str(info_w),
                 "--", *launch.argv],
                pass_fds=(arg_r, info_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=self._log, env={}, preexec_fn=self._preexec)
        finally:
            os.close(arg_r)
            os.close(info_w)
        self._info = os.fdopen(info_r, "rb")

    def _start_plain(self, launch: Launch, env: dict[str, str]) -> None:
        work = launch.job_dir / "work"
        for host, inside in launch.named:  # relative names resolve from the private work folder
            if inside.startswith(WORK + "/"):
                link = work / os.path.relpath(inside, WORK)
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(host)
        self._info = None
        self.proc = subprocess.Popen(launch.argv, cwd=work, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self._log,
                                     start_new_session=True, preexec_fn=self._preexec)

    def poll(self) -> int | None:
        """The exit code once it has ended, else None (checking memory, killing past it)."""
        code = self.proc.poll()
        if code is not None or self.limit is None or self._cgroup is not None:
            if code is not None and self._cgroup is not None and self._cgroup.oom_killed():
                self.over_memory = True
            return code
        used = tree_memory(self.proc.pid)
        self.peak_bytes = max(self.peak_bytes, used)
        if used > self.limit:
            self.over_memory = True
            self.kill()
            return self.proc.returncode
        return None

    def _sandbox_init(self) -> int | None:
        """The host pid of the sandbox's pid-namespace init (bwrap's --info-fd)."""
        if self._init_pid is None and self._info is not None:
            try:
                data = self._info.read()
                if data:
                    self._init_pid = int(json.loads(data)["child-pid"])
            except (OSError, ValueError, KeyError, TypeError):
                pass
        return self._init_pid

    def kill(self) -> None:
        """Kill every process of the sandbox and wait for them to go."""
        if self.proc.returncode is None:
            init = self._sandbox_init()
            tree = descendants(self.proc.pid)
            if self._cgroup is not None:
                self._cgroup.kill()
            # the namespace's init first: its death takes every process in it (setsid or not)
            for pid in ([init] if init else []) + [self.proc.pid] + tree:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            if self.iso.level != "strong":
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        init = self._sandbox_init()
        deadline = time.monotonic() + 5
        while init and alive(init) and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        """Kill what is left, release the cgroup and the files."""
        self.kill()
        if self._cgroup is not None:
            self._cgroup.remove()
        if self._info is not None:
            self._info.close()
        self._log.close()


# -- signals ---------------------------------------------------------------------------------

@contextlib.contextmanager
def exits_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise SystemExit here (as Ctrl-C raises KeyboardInterrupt), so the
    harness's ``finally`` blocks kill the sandboxes and remove the scratch space."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def tail(path: Path, lines: int = 20, limit: int = 4000) -> str:
    """The last lines of a log file (at most ``limit`` characters)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - limit))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


__all__ = ["Isolation", "Launch", "PASSED_ENV", "SWITCH", "Sandbox", "Scratch", "code_paths",
           "exits_on_signals", "named_paths", "probe", "refuse", "tail", "weak_warning"]
