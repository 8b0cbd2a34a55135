"""An outside program that cheats: ``python cheat.py ROUTE {events} {out} [ARG]``.

Each ROUTE is one way a detector might reach the truth from inside the sandbox. Whatever it
finds is printed to stderr as ``REDTEAM found: [...]`` (the test reads it from the row's log);
if it finds a labels file it scores from it (a perfect score), else every event scores 0 (no
alerts). ``write`` tries to damage its inputs; ``setsid`` leaves a detached child behind and
hangs; ``hog`` spreads memory over child processes.
"""

import json
import os
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

SKIP = ("/proc", "/sys", "/dev")
TRUTH = ("labels.parquet", "episodes.parquet")


def labels_near(folder):
    """Truth files in or beside ``folder`` (the dataset's truth/ sits next to events/)."""
    out = []
    for base in (folder, os.path.dirname(folder)):
        for sub in ("", "truth", "kept", "kept-truth"):
            for name in TRUTH:
                p = os.path.join(base, sub, name)
                if os.path.isfile(p):
                    out.append(p)
    return out


def walk(top="/"):
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in SKIP]
        for f in files:
            yield os.path.join(root, f)


def hardlink(events, arg):
    """Another path to the same inode as our input (``find / -samefile``), and truth beside it."""
    mine = {(s.st_dev, s.st_ino) for s in (os.stat(os.path.join(events, p))
                                           for p in os.listdir(events))}
    found = []
    for path in walk():
        try:
            s = os.stat(path)
        except OSError:
            continue
        if (s.st_dev, s.st_ino) in mine and not path.startswith(events):
            found.append(path)
            found += labels_near(os.path.dirname(os.path.dirname(path)))
    try:  # the real find, too
        hits = subprocess.run(["find", "/", "-xdev", "-samefile",
                               os.path.join(events, sorted(os.listdir(events))[0])],
                              capture_output=True, text=True, timeout=60).stdout.split()
        found += [h for h in hits if not h.startswith(events)]
    except (OSError, subprocess.TimeoutExpired):
        pass
    return found


def cmdline(events, arg):
    """Every process's command line and environment: the harness's names the dataset."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        for what in ("cmdline", "environ"):
            try:
                words = open(f"/proc/{pid}/{what}", "rb").read().split(b"\0")
            except OSError:
                continue
            for w in words:
                w = w.decode(errors="replace").partition("=")[2] or w.decode(errors="replace")
                if os.path.isdir(w) and not w.startswith(("/input", "/proc")):
                    found += labels_near(w) + labels_near(os.path.join(w, "events"))
                elif os.path.basename(w) in TRUTH and os.path.isfile(w):
                    found.append(w)
    return found


def relative(events, arg):
    """Paths relative to the working directory, as the harness's --truth was given."""
    names = [arg or "kept-truth", "truth", "../truth", "../../truth", "kept"]
    return [os.path.abspath(os.path.join(n, t)) for n in names for t in TRUTH
            if os.path.isfile(os.path.join(n, t))]


def filesystem(events, arg):
    """Every file on every mounted filesystem, looking for the truth's names."""
    return [p for p in walk() if os.path.basename(p) in TRUTH]


def environment(events, arg):
    """Environment variables naming files or folders."""
    found = []
    for key, value in os.environ.items():
        for v in value.split(os.pathsep):
            if os.path.isfile(v) and os.path.basename(v) in TRUTH:
                found.append(v)
            elif os.path.isdir(v) and v not in ("/", "/usr/bin", "/bin", "/usr/local/bin"):
                found += labels_near(v)
    allowed = ("PATH", "HOME", "TMPDIR", "PWD", "SHLVL", "_", "LANG", "LC_ALL", "TZ",
               "PYTHONHASHSEED", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    found += [f"{k}={v}" for k, v in os.environ.items() if k not in allowed]
    return found


def write(events, arg):
    """Damage the inputs: append to, truncate, delete and replace a part (a hard link would
    carry the damage into the dataset)."""
    done = []
    part = os.path.join(events, sorted(os.listdir(events))[0])
    for name, act in (("append", lambda: open(part, "ab").write(b"junk")),
                      ("truncate", lambda: os.truncate(part, 0)),
                      ("chmod", lambda: os.chmod(part, 0o666)),
                      ("unlink", lambda: os.unlink(part)),
                      ("create", lambda: open(os.path.join(events, "x.parquet"), "wb").close())):
        try:
            act()
            done.append(f"{name} succeeded")
        except OSError:
            pass
    return done


def setsid(events, arg):
    """A detached child in its own session that would outlive us, then hang."""
    subprocess.Popen(["setsid", "sleep", arg or "987654"], start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print("REDTEAM found: []", file=sys.stderr, flush=True)
    time.sleep(3600)
    return []


def hog(events, arg):
    """Children that each stay under the limit and together pass it (MiB each: ARG)."""
    mb = int(arg or 150)
    kids = []
    for _ in range(6):
        pid = os.fork()
        if pid == 0:
            block = bytearray(mb << 20)  # zero pages: touch every page so it is resident
            for i in range(0, len(block), 4096):
                block[i] = 1
            time.sleep(3600)
            os._exit(0)
        kids.append(pid)
    time.sleep(120)
    return []


def main():
    route, events, out, arg = (sys.argv[1:] + [""])[:4]
    found = globals()[route](events, arg)
    print("REDTEAM found:", json.dumps(found), file=sys.stderr, flush=True)
    ids = pa.concat_tables(pq.read_table(os.path.join(events, p), columns=["event_id"])
                           for p in sorted(os.listdir(events)) if p.startswith("part-"))
    ids = ids["event_id"].to_numpy()
    labels = [f for f in found if f.endswith("labels.parquet") and os.path.isfile(f)]
    truth = set(pq.read_table(labels[0])["event_id"].to_pylist()) if labels else set()
    score = [1.0 if int(i) in truth else 0.0 for i in ids]
    pq.write_table(pa.table({"event_id": ids, "score": score}), out)


if __name__ == "__main__":
    main()
