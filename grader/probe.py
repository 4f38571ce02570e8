"""The probe: the only grader code that runs inside a submission's process.

It is sent to the kernel as source text and executed there, so it must stay self-contained:
standard library only (torch and numpy are used when the student's process has them), and it
imports NOTHING from the judging side (no reference, no rubrics, no other grader module).

It does two things, both returning plain JSON-able data:

* ``capture(names)`` after each student cell: the value the cell displayed and the values
  of the names it assigned, as encoded plain data (small arrays, numbers, strings).
* ``handle(request)`` for checks: call a student function on given inputs, build and run a
  student ``nn.Module``, rerun a cell's own statements as a function of numbers it bound
  (``replay``), list the namespace, read values.

Encoding of a value (``enc``)::

    {"t": "array", "kind": "torch"|"numpy", "dtype": "float32", "shape": [2, 3],
     "b64": "<little-endian bytes>", "grad": false}
    {"t": "num", "v": 1.5} | {"t": "bool", "v": true} | {"t": "str", "v": "..."}
    {"t": "seq", "v": [enc, ...]} | {"t": "none"}
    {"t": "opaque", "type": "Conv2D", "callable": true, "params": 1}

Nothing the probe returns is ever evaluated or unpickled by the grader; the grader decodes
it with a strict parser and compares it with the reference in its own process. The student
can tamper with this module (it lives in their process), but only to lie about their own
values, which the grader judges against a reference computed elsewhere.
"""

import ast as _ast
import base64 as _b64
import json as _json
import os as _os
import signal as _signal
import sys as _sys
import time as _time

MAX_ELEMENTS = 65536  # arrays larger than this are sent as opaque shapes only
MAX_CAPTURE_ELEMENTS = 4096  # per captured binding (snapshots after each cell)
MAX_STR = 2000
MAX_SEQ = 64
MAX_BATCH = 64  # requests in one batch
HIDDEN_MARK = "# grader:hidden"
REPLY_MIME = "application/vnd.grader.reply+json"

_DTYPES = {
    "float16": "float16",
    "bfloat16": "float32",
    "float32": "float32",
    "float64": "float64",
    "int8": "int8",
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
    "uint8": "uint8",
    "bool": "bool",
}


class _CallTimeout(BaseException):
    """Raised inside a student call that exceeded its time budget."""


def _torch():  # type: ignore[no-untyped-def]
    return _sys.modules.get("torch")


def _numpy():  # type: ignore[no-untyped-def]
    return _sys.modules.get("numpy")


def _type_name(obj):  # type: ignore[no-untyped-def]
    try:
        return type(obj).__name__
    except Exception:
        return "?"


def _positional_params(obj):  # type: ignore[no-untyped-def]
    try:
        import inspect

        target = obj.__init__ if isinstance(obj, type) else obj
        params = list(inspect.signature(target).parameters.values())
        if isinstance(obj, type) and params and params[0].name == "self":
            params = params[1:]
        kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return sum(1 for p in params if p.kind in kinds)
    except Exception:
        return None


def _encode_array(np_arr, kind, grad, limit):  # type: ignore[no-untyped-def]
    dtype = str(np_arr.dtype)
    if dtype not in _DTYPES:
        return {"t": "opaque", "type": f"array[{dtype}]", "callable": False, "params": None}
    size = int(np_arr.size)
    if size > limit:
        return {
            "t": "opaque",
            "type": f"{kind}{list(np_arr.shape)}",
            "callable": False,
            "params": None,
        }
    np_mod = _numpy()
    arr = np_mod.ascontiguousarray(np_arr).astype(np_arr.dtype.newbyteorder("<"), copy=False)
    return {
        "t": "array",
        "kind": kind,
        "dtype": dtype,
        "shape": [int(s) for s in arr.shape],
        "b64": _b64.b64encode(arr.tobytes()).decode("ascii"),
        "grad": bool(grad),
    }


def encode(obj, limit=MAX_ELEMENTS, depth=0):  # type: ignore[no-untyped-def]
    """Encode ``obj`` as plain data. Never raises: unknown things become opaque."""
    try:
        torch = _torch()
        np_mod = _numpy()
        tp = type(obj)
        if obj is None:
            return {"t": "none"}
        if tp is bool:
            return {"t": "bool", "v": obj}
        if tp in (int, float):
            return {"t": "num", "v": obj if obj == obj and abs(obj) != float("inf") else str(obj)}
        if tp is str:
            return {"t": "str", "v": obj[:MAX_STR]}
        if torch is not None and issubclass(tp, torch.Tensor):
            t = obj.detach().cpu()
            if str(t.dtype) == "torch.bfloat16":
                t = t.float()
            if t.is_complex() or np_mod is None:
                return {"t": "opaque", "type": "Tensor", "callable": False, "params": None}
            return _encode_array(t.resolve_conj().numpy(), "torch", obj.requires_grad, limit)
        if np_mod is not None and issubclass(tp, np_mod.ndarray):
            return _encode_array(obj, "numpy", False, limit)
        if np_mod is not None and issubclass(tp, np_mod.generic):
            return encode(obj.item(), limit, depth)
        if tp in (list, tuple) and depth < 4:
            items = [encode(x, limit, depth + 1) for x in obj[:MAX_SEQ]]
            return {"t": "seq", "v": items}
        return {
            "t": "opaque",
            "type": _type_name(obj),
            "callable": callable(obj),
            "params": _positional_params(obj) if callable(obj) else None,
        }
    except BaseException:
        return {"t": "opaque", "type": _type_name(obj), "callable": False, "params": None}


def decode(spec):  # type: ignore[no-untyped-def]
    """Turn an input sent by the grader into a torch tensor / ndarray / plain value."""
    t = spec.get("t")
    if t == "array":
        np_mod = _numpy() or __import__("numpy")
        raw = _b64.b64decode(spec["b64"])
        arr = np_mod.frombuffer(raw, dtype=np_mod.dtype(spec["dtype"]).newbyteorder("<"))
        arr = arr.reshape(spec["shape"]).astype(spec["dtype"])
        torch = _torch()
        if torch is None and spec.get("kind", "torch") == "torch":
            try:  # the notebook's own import may have failed (e.g. after `import d2l`)
                torch = __import__("torch")
            except ImportError:
                torch = None
        if spec.get("kind", "torch") == "torch" and torch is not None:
            tensor = torch.from_numpy(arr.copy())
            if spec.get("grad"):
                tensor.requires_grad_(True)
            return tensor
        return arr.copy()
    if t in ("num", "bool", "str"):
        return spec["v"]
    if t == "seq":
        return tuple(decode(x) for x in spec["v"])
    if t == "none":
        return None
    raise ValueError(f"cannot decode input of type {t!r}")


def _assigned_names(source):  # type: ignore[no-untyped-def]
    """Names a cell binds at top level (assignments, defs, classes, imports, for targets)."""
    try:
        tree = _ast.parse(source)
    except SyntaxError:
        return []
    names = []

    def targets(node):  # type: ignore[no-untyped-def]
        if isinstance(node, _ast.Name):
            names.append(node.id)
        elif isinstance(node, (_ast.Tuple, _ast.List)):
            for elt in node.elts:
                targets(elt)
        elif isinstance(node, _ast.Starred):
            targets(node.value)
        elif isinstance(node, (_ast.Subscript, _ast.Attribute)):
            base = node.value
            while isinstance(base, (_ast.Subscript, _ast.Attribute)):
                base = base.value
            if isinstance(base, _ast.Name):
                names.append(base.id)  # X[:, 2:6] = 0 changes X

    for node in tree.body:
        if isinstance(node, _ast.Assign):
            for tgt in node.targets:
                targets(tgt)
        elif isinstance(node, (_ast.AugAssign, _ast.AnnAssign)):
            targets(node.target)
        elif isinstance(node, (_ast.FunctionDef, _ast.AsyncFunctionDef, _ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (_ast.For, _ast.With)):
            for sub in _ast.walk(node):
                if isinstance(sub, _ast.Assign):
                    for tgt in sub.targets:
                        targets(tgt)
    seen = []
    for n in names:
        if n not in seen:
            seen.append(n)
    return seen


def _publish(reply):  # type: ignore[no-untyped-def]
    """Send ``reply`` to the grader: display data of the private MIME type."""
    from IPython.display import display

    display({REPLY_MIME: reply}, raw=True)


class Probe:
    """Lives in the student's process; answers the grader with plain data."""

    def __init__(self, namespace):  # type: ignore[no-untyped-def]
        self.ns = namespace
        self.last_result = None
        self.has_result = False

    # -- per-cell capture --------------------------------------------------------------
    def post_run_cell(self, result):  # type: ignore[no-untyped-def]
        """After every student cell: remember its result, and publish its capture as the
        cell's last output (a reply display), so that the grader needs no second request.
        If this hook is removed or its display lost, the grader asks with ``capture``."""
        try:
            raw = result.info.raw_cell if result.info is not None else ""
            if raw.startswith(HIDDEN_MARK):
                return
            self.has_result = result.result is not None
            self.last_result = result.result
        except BaseException:
            self.has_result = False
            self.last_result = None
            return
        try:
            out = self._snapshot(raw)
            out["capture"] = True
            _publish(out)
        except BaseException:
            pass

    def _snapshot(self, source):  # type: ignore[no-untyped-def]
        out = {"results": [], "bindings": {}}
        if self.has_result:
            out["results"].append(encode(self.last_result, MAX_CAPTURE_ELEMENTS))
        for name in _assigned_names(source)[:32]:
            if name in self.ns:
                out["bindings"][name] = encode(self.ns[name], MAX_CAPTURE_ELEMENTS)
        return out

    def capture(self, source):  # type: ignore[no-untyped-def]
        """Encoded result and bindings of the student cell that just ran."""
        out = self._snapshot(source)
        self.has_result = False
        self.last_result = None
        return out

    def reply_capture(self, source):  # type: ignore[no-untyped-def]
        """``capture``, published as a reply display (the grader's one-statement cell)."""
        _publish(self.capture(source))

    # -- requests ----------------------------------------------------------------------
    def reply(self, request_json):  # type: ignore[no-untyped-def]
        """``handle``, published as a reply display (the grader's one-statement cell)."""
        _publish(self.handle(request_json))

    def reply_packed(self, packed):  # type: ignore[no-untyped-def]
        """``reply`` to a request sent as base64 of zlib-compressed JSON."""
        import base64
        import zlib

        try:
            request_json = zlib.decompress(base64.b64decode(packed)).decode("utf-8")
        except BaseException as exc:
            request_json = _json.dumps({"op": "unpack-failed", "error": str(exc)[:200]})
        self.reply(request_json)

    def handle(self, request_json):  # type: ignore[no-untyped-def]
        try:
            req = _json.loads(request_json)
        except BaseException as exc:
            return {"id": None, "ok": False, "ename": _type_name(exc), "evalue": str(exc)[:MAX_STR]}
        return self._answer(req)

    def op_batch(self, req):  # type: ignore[no-untyped-def]
        """Several requests in one round trip, run in order, each answered as alone."""
        replies = []
        for sub in list(req.get("requests", []))[:MAX_BATCH]:
            if not isinstance(sub, dict) or sub.get("op") == "batch":
                replies.append({"ok": False, "ename": "ProbeError", "evalue": "bad request"})
                continue
            sub = dict(sub)
            sub.setdefault("timeout", req.get("timeout", 5.0))
            replies.append(self._answer(sub))
        return {"ok": True, "replies": replies}

    def _answer(self, req):  # type: ignore[no-untyped-def]
        try:
            op = req.get("op")
            fn = getattr(self, "op_" + str(op), None)
            if fn is None:
                return {
                    "id": req.get("id"),
                    "ok": False,
                    "ename": "ProbeError",
                    "evalue": f"unknown op {op!r}",
                }
            reply = fn(req)
            reply["id"] = req.get("id")
            return reply
        except BaseException as exc:  # the student's code may raise anything
            return {
                "id": req.get("id") if isinstance(req, dict) else None,
                "ok": False,
                "ename": _type_name(exc),
                "evalue": str(exc)[:MAX_STR],
            }

    def _lookup(self, name):  # type: ignore[no-untyped-def]
        if name not in self.ns:
            raise NameError(f"name {name!r} is not defined")
        return self.ns[name]

    def _timed(self, seconds, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        """Run a student call with a wall-clock budget, silencing its prints."""

        def on_alarm(signum, frame):  # type: ignore[no-untyped-def]
            raise _CallTimeout()

        old = _signal.signal(_signal.SIGALRM, on_alarm)
        _signal.setitimer(_signal.ITIMER_REAL, seconds)
        saved = _sys.stdout, _sys.stderr
        sink = open(_os.devnull, "w")  # noqa: SIM115
        _sys.stdout = _sys.stderr = sink
        start = _time.perf_counter()
        try:
            return fn(*args, **kwargs), _time.perf_counter() - start
        finally:
            _signal.setitimer(_signal.ITIMER_REAL, 0)
            _signal.signal(_signal.SIGALRM, old)
            _sys.stdout, _sys.stderr = saved
            sink.close()

    def _call_reply(self, seconds, fn, *args):  # type: ignore[no-untyped-def]
        try:
            value, elapsed = self._timed(seconds, fn, *args)
        except _CallTimeout:
            return {"ok": False, "ename": "Timeout", "evalue": f"no result within {seconds} s"}
        except BaseException as exc:
            return {"ok": False, "ename": _type_name(exc), "evalue": str(exc)[:MAX_STR]}
        return {"ok": True, "value": encode(value), "seconds": elapsed}

    def op_namespace(self, req):  # type: ignore[no-untyped-def]
        entries = {}
        torch = _torch()
        for name, obj in list(self.ns.items()):
            if name.startswith("_") or name in ("In", "Out", "exit", "quit", "get_ipython"):
                continue
            tp = type(obj)
            if tp.__name__ == "module":
                continue
            entry = {"type": _type_name(obj), "callable": callable(obj)}
            if callable(obj):
                entry["params"] = _positional_params(obj)
                entry["is_class"] = isinstance(obj, type)
                if torch is not None and isinstance(obj, type):
                    entry["is_module"] = issubclass(obj, torch.nn.Module)
                entry["owner"] = getattr(obj, "__module__", None) in ("__main__", None)
            elif torch is not None and issubclass(tp, torch.Tensor):
                entry["shape"] = [int(s) for s in obj.shape]
            entries[name] = entry
        return {"ok": True, "namespace": entries}

    def op_get(self, req):  # type: ignore[no-untyped-def]
        return {"ok": True, "value": encode(self._lookup(req["name"]))}

    def op_call(self, req):  # type: ignore[no-untyped-def]
        fn = self._lookup(req["target"])
        args = [decode(a) for a in req.get("args", [])]
        return self._call_reply(float(req.get("timeout", 5.0)), fn, *args)

    def op_replay(self, req):  # type: ignore[no-untyped-def]
        """Run statements of a student cell as a function of names the cell bound to numbers
        (``K_v = v1 * Dx + v2 * Dy`` after ``v1, v2 = 0.28, 0.96``) and return ``result``.
        The statements are the student's own; their names stay local to the call, so the
        namespace is not changed."""
        params = [str(p) for p in req.get("params", [])]
        result = str(req.get("result", ""))
        if not result.isidentifier() or not all(p.isidentifier() for p in params):
            raise ValueError("bad replay request")
        body = str(req.get("body", "")).strip("\n")
        _ast.parse(body)  # a SyntaxError is the reply, before anything is defined
        lines = [f"def __grader_replay({', '.join(params)}):"]
        lines += ["    " + line for line in body.splitlines()]
        lines.append(f"    return {result}")
        scope = {}
        exec(compile("\n".join(lines), "<answer>", "exec"), self.ns, scope)
        args = [decode(a) for a in req.get("args", [])]
        return self._call_reply(float(req.get("timeout", 5.0)), scope["__grader_replay"], *args)

    def op_module(self, req):  # type: ignore[no-untyped-def]
        """Build a student nn.Module, set its parameters, run forward (and backward)."""
        torch = _torch()
        if torch is None:
            raise ImportError("torch is not imported in the notebook")
        cls = self._lookup(req["target"])
        init_args = [decode(a) for a in req.get("init_args", [])]
        params = {k: decode(v) for k, v in req.get("params", {}).items()}
        inputs = [decode(a) for a in req.get("inputs", [])]
        seconds = float(req.get("timeout", 5.0))

        def run():  # type: ignore[no-untyped-def]
            net = cls(*init_args)
            named = dict(net.named_parameters())
            with torch.no_grad():
                for pname, value in params.items():
                    if pname not in named:
                        raise AttributeError(f"the module has no parameter {pname!r}")
                    target = named[pname]
                    target.copy_(value.to(target.dtype).reshape(target.shape))
            out = net(*inputs)
            grads = {}
            if req.get("backward"):
                out.sum().backward()
                for pname, p in net.named_parameters():
                    grads[pname] = p.grad
            return {"output": out, "grads": grads, "params": sorted(named)}

        try:
            value, _ = self._timed(seconds, run)
        except _CallTimeout:
            return {"ok": False, "ename": "Timeout", "evalue": f"no result within {seconds} s"}
        except BaseException as exc:
            return {"ok": False, "ename": _type_name(exc), "evalue": str(exc)[:MAX_STR]}
        return {
            "ok": True,
            "value": encode(value["output"]),
            "grads": {k: encode(v) for k, v in value["grads"].items()},
            "params": value["params"],
        }


def install(namespace, shell=None):  # type: ignore[no-untyped-def]
    """Create the probe for ``namespace`` and hook it into IPython's cell events."""
    probe = Probe(namespace)
    if shell is not None:
        shell.events.register("post_run_cell", probe.post_run_cell)
    return probe
