"""Atomic writes: a results or cache file is either complete or absent, never half-written (docs/design.md §7).

Temporaries beside their target carry `.tmp<pid>-<host>` (`remove_stale_temporaries` removes those of dead
processes); a finished file gets a plain `open()`'s mode under the umask; a write error names the file.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

from filelock import FileLock

_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
_STALE = re.compile(r"\.tmp(\d+)(?:-([A-Za-z0-9-]+))?(?:\.|$)")  # no host: an older name, this host's


def tmp_tag() -> str:
    """The marker of this process's temporaries: `.tmp<pid>-<host>`."""
    return f".tmp{os.getpid()}-{_HOST}"


def umask() -> int:
    try:  # Linux: read without changing it (os.umask is a set-and-restore, racy with threads)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def named_write_error(err: OSError, path: Path) -> OSError:
    """`err` with the file it concerns (an errno message alone, e.g. "File too large", names nothing)."""
    if err.filename is not None or err.errno is None:
        return err
    return type(err)(err.errno, err.strerror or str(err), str(path))


@contextlib.contextmanager
def atomic_path(path: str | Path, mode: int = 0o666):
    """A temporary path beside `path` for a writer that takes a path (torch.save, savefig, to_csv); renamed
    onto `path` with `mode & ~umask` only if the block completes, removed otherwise."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{tmp_tag()}.", suffix=".tmp")
        os.close(fd)
    except OSError as err:
        raise named_write_error(err, path) from err
    try:
        yield Path(tmp)
        os.chmod(tmp, mode & ~umask())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise named_write_error(err, path) from err
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def open_atomic(path: str | Path, mode: str = "w"):
    """A file object on a temporary file beside `path`, renamed onto `path` only if the block completes."""
    with atomic_path(path) as tmp:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def write_text_atomic(path: str | Path, text: str) -> None:
    with open_atomic(path) as f:
        f.write(text)


def json_text(obj: Any) -> str:
    """The one JSON layout of results and caches: sorted keys, two-space indent, a final newline."""
    return json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_text_atomic(path, json_text(obj))


def replace_dir_atomic(tmp_dir: Path, final_dir: Path) -> None:
    """Move a fully written directory into place (rename is atomic on one filesystem)."""
    if final_dir.exists():
        shutil.rmtree(final_dir)
    os.replace(tmp_dir, final_dir)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporaries (files or folders, marked `.tmp<pid>-<host>`) directly in `folder` that a
    process of this host left and that is no longer alive: a killed write or cache build. Those of live
    processes and of other hosts stay. Returns what was removed."""
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        m = _STALE.search(entry.name)
        if not m or m.group(2) not in (None, _HOST) or pid_alive(int(m.group(1))):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink(missing_ok=True)
        except OSError:  # e.g. a read-only folder: left as it is
            continue
        removed.append(entry)
    return removed


def unwritable(path: str | Path) -> str | None:
    """Why files cannot be written in folder `path` (made if missing), or None: checked before any work."""
    path = Path(path)
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        return f"{path}: cannot be made, {existing} is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{path}: not writable ({existing} is read-only for this user)"
    return None


_LOCKS: dict[str, FileLock] = {}


def lock_for(path: str | Path) -> FileLock:
    """This process's one `FileLock` for `path`, kept for the process's life. A FileLock dropped after each use
    runs its finalizer then, and CPython swallows a Ctrl-C that lands inside a finalizer ("Exception ignored"):
    between two runs, the user's interrupt would be lost."""
    key = os.path.abspath(path)
    if key not in _LOCKS:
        _LOCKS[key] = FileLock(key)
    return _LOCKS[key]


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
