"""Symlink-safe removal of what a submission leaves behind. Standard library only.

Runs in the grader process (a driver's workdir, a kernel's scratch) and in the warm
engine's fork server (a sandbox's scratch space between kernels).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

# ======================================================================= removing files
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_MAX_OPEN_DEPTH = 16


def _open_dir(name: str, dir_fd: int | None = None) -> int:
    """Open the directory ``name`` (never through a symlink) for listing and removing its
    entries, first giving its owner rwx if a student took them away."""
    path_fd = os.open(
        name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd
    )
    try:
        magic = f"/proc/self/fd/{path_fd}"  # this very inode, whatever happens to `name`
        mode = os.stat(magic).st_mode & 0o7777
        if mode & 0o700 != 0o700:
            os.chmod(magic, mode | 0o700)
        return os.open(magic, _DIR_FLAGS)
    finally:
        os.close(path_fd)


def clear_dir(root: str, skip: frozenset[str] = frozenset()) -> None:
    """Delete everything inside the directory ``root``, at any depth: no symlink is
    followed, directories made unreadable are opened up, and at most ``_MAX_OPEN_DEPTH``
    directories are open at once (deeper ones are moved up into ``root`` and removed from
    there). Paths in ``skip`` (mount points) stay, and so do their parents (emptied of
    everything else). Raises OSError when something cannot be removed."""
    root = root.rstrip("/") or "/"
    through = {str(parent) for path in skip for parent in Path(path).parents}
    root_fd = _open_dir(root)
    try:
        while _clear_pass(root_fd, root, skip, through):
            pass
    finally:
        os.close(root_fd)


def _clear_pass(root_fd: int, root: str, skip: frozenset[str], through: set[str]) -> bool:
    """One depth-first pass of :func:`clear_dir`; True if it moved directories up."""
    moved = False
    frames: list[tuple[int, str, Any, str]] = [(root_fd, root, os.scandir(root_fd), "")]
    try:
        while frames:
            fd, path, entries, name = frames[-1]
            entry = next(entries, None)
            if entry is None:
                frames.pop()
                entries.close()
                if frames:
                    os.close(fd)
                    if path not in through:
                        os.rmdir(name, dir_fd=frames[-1][0])
                continue
            full = f"{path.rstrip('/')}/{entry.name}"
            if full in skip:
                continue
            if not entry.is_dir(follow_symlinks=False):
                os.unlink(entry.name, dir_fd=fd)
            elif len(frames) >= _MAX_OPEN_DEPTH and full not in through:
                target = f".grader-wipe-{os.urandom(8).hex()}"
                os.rename(entry.name, target, src_dir_fd=fd, dst_dir_fd=root_fd)
                moved = True
            else:
                sub = _open_dir(entry.name, dir_fd=fd)
                frames.append((sub, full, os.scandir(sub), entry.name))
    finally:
        for fd, _, entries, _ in frames:
            entries.close()
            if fd != root_fd:
                os.close(fd)
    return moved


def remove_tree(path: Path | str) -> bool:
    """Remove ``path`` and everything under it (like :func:`clear_dir`); never raises.
    False if something is left."""
    try:
        is_dir = os.path.isdir(path) and not os.path.islink(path)
        if is_dir:
            clear_dir(str(path))
            os.rmdir(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False
    return True


def copy_into(src: Path, dst: Path) -> None:
    """Copy what the driver put into its workdir (normally nothing) into the kernel's."""
    try:
        empty = not any(os.scandir(src))
    except OSError:
        return
    if not empty:
        shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
        os.chmod(dst, 0o700)
