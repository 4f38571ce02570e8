"""A kernel's output capture. Runs in the kernel child.

Python-level ``sys.stdout``/``sys.stderr`` are replaced by streams that record text in
order with displays (no buffering, so ordering equals call order). File-descriptor-level
output (C code, ``os.system``, subprocesses) is captured like ipykernel's
``capture_fd_output``: fds 1 and 2 are pipes drained by a reader thread into the same
streams; ``sys.stdout.fileno()`` is, as in ipykernel, a descriptor that bypasses capture
(here the kernel's log file). Displays arrive through the shell's session
(:mod:`.shell`) and follow nbclient's rules (``clear_output``, display-id updates). Text
beyond ``Limits.max_output_bytes`` is dropped here, which leaves the capped result
unchanged.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Mapping
from typing import Any

from ..kernel import REPLY_MIME


class Outputs:
    """What a cell produced, with nbclient's rules for clear_output and display ids."""

    def __init__(self, cap: int) -> None:
        self.cap = max(0, cap)
        self.lock = threading.Lock()
        self.items: list[dict[str, Any]] = []
        self.ids: dict[str, list[int]] = {}
        self.clear_pending = False
        self.used = {"text": 0, "stderr": 0}

    def reset(self) -> None:
        with self.lock:
            self.items = []
            self.ids = {}
            self.clear_pending = False
            self.used = {"text": 0, "stderr": 0}

    # -- accounting: mirrors _raw_result (text = stdout + text/plain of displays)
    def _budget(self, kind: str) -> int:
        return self.cap - self.used[kind]

    @staticmethod
    def _display_text(data: Mapping[str, Any]) -> str | None:
        if isinstance(data.get(REPLY_MIME), Mapping) or "text/plain" not in data:
            return None
        return str(data["text/plain"]) + "\n"

    def _recount(self) -> None:
        used = {"text": 0, "stderr": 0}
        for item in self.items:
            kind = item["output_type"]
            if kind == "stream":
                used["stderr" if item["name"] == "stderr" else "text"] += item["size"]
            elif kind in ("display_data", "execute_result"):
                text = self._display_text(item["data"])
                used["text"] += len(text) if text is not None else 0
        self.used = used

    def _clear(self) -> None:
        self.items = []
        self.ids = {}
        self.used = {"text": 0, "stderr": 0}

    def _append(self, item: dict[str, Any], display_id: str | None) -> None:
        if self.clear_pending:
            self._clear()
            self.clear_pending = False
        if display_id:
            self.ids.setdefault(display_id, []).append(len(self.items))
        self.items.append(item)

    # -- producers
    def stream(self, name: str, text: str) -> None:
        if not text:
            return
        with self.lock:
            self._stream_locked(name, text)

    def _stream_locked(self, name: str, text: str) -> None:
        kind = "stderr" if name == "stderr" else "text"
        room = self._budget(kind)
        if self.clear_pending:
            room = self.cap
        if room <= 0:
            return
        piece = text[:room]
        last = None if self.clear_pending or not self.items else self.items[-1]
        if last is not None and last["output_type"] == "stream" and last["name"] == name:
            last["parts"].append(piece)
            last["size"] += len(piece)
        else:
            self._append(
                {"output_type": "stream", "name": name, "parts": [piece], "size": len(piece)},
                None,
            )
        self.used[kind] += len(piece)

    def _filtered(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            return {}
        kept = {k: data[k] for k in (REPLY_MIME, "text/plain") if k in data}
        text = self._display_text(kept)
        if text is not None and isinstance(kept["text/plain"], str):
            kept["text/plain"] = kept["text/plain"][: max(0, self._budget("text"))]
        return kept

    def message(self, msg_type: str, content: Mapping[str, Any]) -> None:
        """One iopub message, processed like nbclient's ``process_message``."""
        with self.lock:
            transient = content.get("transient")
            display_id = transient.get("display_id") if isinstance(transient, dict) else None
            if display_id is not None and not isinstance(display_id, str):
                display_id = str(display_id)
            kinds = ("execute_result", "display_data", "update_display_data")
            if display_id and msg_type in kinds and display_id in self.ids:
                data = self._filtered(content.get("data"))
                for idx in self.ids[display_id]:
                    if idx < len(self.items):
                        self.items[idx]["data"] = data
                self._recount()
            if msg_type == "clear_output":
                if content.get("wait"):
                    self.clear_pending = True
                else:
                    self._clear()
            elif msg_type in ("execute_result", "display_data"):
                if self.clear_pending:
                    self._clear()
                    self.clear_pending = False
                data = self._filtered(content.get("data"))
                text = self._display_text(data)
                if not data and not display_id:
                    return
                full = text is not None and self._budget("text") <= 0
                if full and not display_id and REPLY_MIME not in data:
                    return  # beyond the output cap: nothing _raw_result would keep
                self._append({"output_type": msg_type, "data": data}, display_id)
                self.used["text"] += len(text) if text is not None else 0
            elif msg_type == "error":
                evalue = str(content.get("evalue", ""))[: max(self.cap, 1000)]
                item = {
                    "output_type": "error",
                    "ename": str(content.get("ename", "")),
                    "evalue": evalue,
                }
                self._append(item, None)

    def export(self) -> list[dict[str, Any]]:
        with self.lock:
            out: list[dict[str, Any]] = []
            for item in self.items:
                if item["output_type"] == "stream":
                    out.append(
                        {
                            "output_type": "stream",
                            "name": item["name"],
                            "text": "".join(item["parts"]),
                        }
                    )
                else:
                    out.append(item)
            return out


class FdPump:
    """Captures file-descriptor-level output (fds 1 and 2 are pipes) into the streams."""

    def __init__(self, outputs: Outputs, fds: Mapping[int, str]) -> None:
        import codecs

        self.outputs = outputs
        self.fds = dict(fds)
        self.decoders = {fd: codecs.getincrementaldecoder("utf-8")("replace") for fd in fds}
        self.thread = threading.Thread(target=self._run, name="grader-fd-pump", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        fds = list(self.fds)
        while fds:
            try:
                readable, _, _ = select.select(fds, [], [])
            except InterruptedError:
                continue
            except (OSError, ValueError):
                return
            for fd in readable:
                if not self.drain(fd, limit=16):
                    fds.remove(fd)

    def drain(self, fd: int, limit: int = 1 << 30) -> bool:
        """Read what is in the pipe now; False at EOF."""
        with self.outputs.lock:
            for _ in range(limit):
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    return True
                except OSError:
                    return False
                if not data:
                    return False
                text = self.decoders[fd].decode(data)
                if text:
                    self.outputs._stream_locked(self.fds[fd], text)
        return True

    def drain_all(self) -> None:
        for fd in self.fds:
            self.drain(fd)


def stream_type() -> type:
    import io

    class OutStream(io.TextIOBase):
        """``sys.stdout``/``sys.stderr`` of a warm kernel: text goes to the cell's outputs."""

        def __init__(self, name: str, outputs: Outputs, fileno: int, fd: int, pump: FdPump) -> None:
            super().__init__()
            self._name = name
            self._outputs = outputs
            self._fileno = fileno
            self._fd = fd
            self._pump = pump
            self._owner = os.getpid()

        @property
        def name(self) -> str:
            return self._name

        encoding = "UTF-8"
        errors = "strict"

        def isatty(self) -> bool:
            return False

        def writable(self) -> bool:
            return True

        def fileno(self) -> int:
            return self._fileno

        def flush(self) -> None:
            """Like ipykernel's flush, which waits for its pipe watcher: output already
            written to fds 1 and 2 comes before whatever is displayed next."""
            if os.getpid() == self._owner:
                flush_c_stdio()
                self._pump.drain_all()

        def write(self, s: str) -> int:
            if not isinstance(s, str):
                raise TypeError(f"write() argument must be str, not {type(s)}")
            if self.closed:
                raise ValueError("I/O operation on closed file")
            if os.getpid() != self._owner:  # a forked worker: through the captured fd
                with contextlib.suppress(OSError):
                    os.write(self._fd, s.encode("utf-8", "replace"))
                return len(s)
            self._outputs.stream(self._name, s)
            return len(s)

        def writelines(self, lines: Any) -> None:
            for line in lines:
                self.write(line)

    return OutStream


_LIBC: Any = None


def flush_c_stdio() -> None:
    global _LIBC
    try:
        if _LIBC is None:
            import ctypes

            _LIBC = ctypes.CDLL(None)
        _LIBC.fflush(None)
    except Exception:
        pass
