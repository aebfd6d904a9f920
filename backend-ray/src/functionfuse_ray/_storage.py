"""The ``ray`` storage kind: a file storage on chosen machines of a Ray cluster.

The original Function Fuse kept results "on a single designated Ray cluster node": one
machine holds a custom resource (``ray start --resources='{"_disk": 1}'``) and every
storage call runs as a Ray task whose remote args (``remoteArgs``) ask for a sliver of it.
:class:`RayFileStorage` is that storage on top of ours: a :class:`functionfuse_fs.FileStorage`
(or any storage) whose methods run where ``remote_args`` sends them.

- Called from a driver or a notebook, each method is one such task (Ray is started or
  joined first with ``ray_init_args`` when this process is not connected yet).
- Called inside a Ray task or actor that already runs where ``remote_args`` sends
  tasks (it holds their custom resources), a method runs right there. That is how
  :class:`~functionfuse_ray.RayWorkflow` uses it: it pins its own storage tasks with
  ``remote_args`` (as with its ``storage_resource``), and those call the storage.
"""

from __future__ import annotations

import difflib
import functools
import os
import pickle
from collections.abc import Iterable, Mapping
from typing import Any, Final

import ray

from functionfuse import ConfigurationError, StorageError
from functionfuse.contracts import Storage
from functionfuse.contracts import keeps_fingerprints as _keeps_fingerprints
from functionfuse_ray._startup import ensure_ray

__all__ = ["RayFileStorage"]

#: The options of a ``{"kind": "ray", "options": {...}}`` config: the original Function
#: Fuse's three, then the file storage's own.
_ORIGINAL_OPTIONS: Final = ("path", "remoteArgs", "rayInitArgs")
_FILE_OPTIONS: Final = ("signing_key", "always_read", "fsync")
#: Spellings people reach for, and the option they mean (older releases of the original
#: and its notebooks wrote ``remoteArg`` and ``rayInit``).
_SPELLINGS: Final = {
    "remote_args": "remoteArgs",
    "remotearg": "remoteArgs",
    "remote_arg": "remoteArgs",
    "ray_init_args": "rayInitArgs",
    "rayinit": "rayInitArgs",
    "ray_init": "rayInitArgs",
    "storage_path": "path",
}
#: Options functionfuse-ray sets on storage tasks itself.
_RESERVED: Final = frozenset({"num_returns"})


class RayFileStorage:
    """Results in a folder on the Ray machines that ``remote_args`` selects.

    ``RayFileStorage(path, remote_args, *, ray_init_args=None, signing_key=None,
    always_read=False, fsync=False)``; from a config (the original Function Fuse's)::

        storage_factory({"kind": "ray", "options": {
            "path": "/data/storage",                          # on the storage machine
            "remoteArgs": {"resources": {"_disk": 0.001}},    # where storage calls run
            "rayInitArgs": {"address": "auto"},               # optional: see below
        }})

    - ``path``: a folder on the machines ``remote_args`` selects; a relative path is made
      absolute here, on the machine that builds the storage. A storage object (say a
      :class:`functionfuse_fs.FileStorage`) is also accepted, and used as it is.
    - ``remote_args``: the ``.options()`` of each storage task (``{}``: any machine,
      for folders every machine can reach). Usually a share of a custom resource that
      only the storage machine has.
    - ``ray_init_args``: used only when this process is not connected to Ray yet — say
      in a notebook that reads results back — as ``ray.init(**ray_init_args)``
      (``{"address": "auto"}`` joins the cluster of this machine). A running Ray is
      used as it is; the original shut it down and started another.
    - ``signing_key``, ``always_read``, ``fsync``: as for the ``file`` kind.

    The methods are the storage contract's (``list_tasks``, ``read_task``, ``save``,
    ``remove_task``, ..., and ``read_tasks`` for many results at once), each one call
    to the storage machine, with the same results and errors as the file storage there.
    """

    __slots__ = ("_checked", "_local", "_ray_init_args", "_remote_args")

    def __init__(
        self,
        path: str | os.PathLike[str] | Storage,
        remote_args: Mapping[str, Any],
        *,
        ray_init_args: Mapping[str, Any] | None = None,
        signing_key: str | bytes | None = None,
        always_read: bool = False,
        fsync: bool = False,
    ) -> None:
        self._remote_args = _checked_remote_args(remote_args)
        if ray_init_args is not None and not isinstance(ray_init_args, Mapping):
            raise ConfigurationError(
                "ray storage option rayInitArgs must be a dict of ray.init keyword "
                f"arguments such as {{'address': 'auto'}}, got "
                f"{type(ray_init_args).__name__} {ray_init_args!r}"
            )
        self._ray_init_args = None if ray_init_args is None else dict(ray_init_args)
        self._local = _local_storage(path, signing_key, always_read, fsync)
        self._checked = False

    # -- configuration ----------------------------------------------------------------------

    @classmethod
    def from_config(cls, options: Mapping[str, Any]) -> RayFileStorage:
        """Build from the options of a ``{"kind": "ray", "options": {...}}`` config:
        ``path`` and ``remoteArgs`` (required), ``rayInitArgs``, and the file storage's
        ``signing_key``, ``always_read``, ``fsync``."""
        if not isinstance(options, Mapping):
            raise ConfigurationError(
                "ray storage options must be a dict such as {'path': 'storage', "
                "'remoteArgs': {'resources': {'_disk': 0.001}}}, got "
                f"{type(options).__name__}"
            )
        for name in options:
            if name not in _ORIGINAL_OPTIONS and name not in _FILE_OPTIONS:
                raise ConfigurationError(_unknown_option(name))
        for required in ("path", "remoteArgs"):
            if required not in options:
                raise ConfigurationError(
                    f"ray storage options need {required!r} ({_REQUIRED_HELP[required]}); "
                    f"got {', '.join(map(repr, options)) or 'no options'}"
                )
        path = options["path"]
        if not isinstance(path, (str, os.PathLike)):
            raise ConfigurationError(
                f"ray storage option 'path' must be a folder (str), got {type(path).__name__}"
            )
        return cls(
            path,
            options["remoteArgs"],
            ray_init_args=options.get("rayInitArgs"),
            signing_key=options.get("signing_key"),
            always_read=options.get("always_read", False),
            fsync=options.get("fsync", False),
        )

    @classmethod
    def from_url(cls, url: str, options: Mapping[str, Any] | None = None) -> RayFileStorage:
        """Refused: a ``ray://`` address is Ray Client's, not a storage's."""
        raise ConfigurationError(
            f"{url!r} is not a storage URL: the ray storage kind is configured with "
            "{'kind': 'ray', 'options': {'path': ..., 'remoteArgs': {...}}}, and a ray:// "
            "address (Ray Client) goes to RayWorkflow(ray_init_args={'address': ...}) or "
            "to the storage's rayInitArgs"
        )

    @property
    def remote_args(self) -> dict[str, Any]:
        """The ``.options()`` of this storage's tasks (a copy)."""
        return dict(self._remote_args)

    @property
    def ray_init_args(self) -> dict[str, Any] | None:
        return None if self._ray_init_args is None else dict(self._ray_init_args)

    @property
    def local(self) -> Storage:
        """The storage that the storage machines use (a FileStorage, usually)."""
        return self._local

    @property
    def always_read(self) -> bool:
        return bool(self._local.always_read)

    @always_read.setter
    def always_read(self, value: bool) -> None:
        self._local.always_read = value

    @property
    def keeps_fingerprints(self) -> bool:
        """Whether the storage beneath keeps fingerprints (a FileStorage does)."""
        return _keeps_fingerprints(self._local)

    @property
    def url(self) -> str:
        """The folder (or URL) on the storage machines."""
        return str(getattr(self._local, "url", self._local))

    @property
    def protocol(self) -> str:
        return str(getattr(self._local, "protocol", "file"))

    def __repr__(self) -> str:
        return f"RayFileStorage({self.url!r}, remote_args={self._remote_args!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt as it is, minus the "checked" flag: a process checks the cluster once.
        return (_restore, (self._local, self._remote_args, self._ray_init_args))

    # -- the storage contract -----------------------------------------------------------------

    def new_workflow(self, workflow_name: str) -> None:
        self._call("new_workflow", workflow_name)

    def save(
        self,
        workflow_name: str,
        task_name: str,
        obj: object,
        *,
        fingerprint: bytes | None = None,
    ) -> int | None:
        size: int | None  # FileStorage's; the core checks what it is given
        if fingerprint is None:
            size = self._call("save", workflow_name, task_name, obj)
        else:
            size = self._call("save", workflow_name, task_name, obj, fingerprint=fingerprint)
        return size

    def read_task(
        self, workflow_name: str, task_name: str, *, fingerprint: bytes | None = None
    ) -> Any:
        if fingerprint is None:
            return self._call("read_task", workflow_name, task_name)
        return self._call("read_task", workflow_name, task_name, fingerprint=fingerprint)

    def read_tasks(
        self,
        workflow_name: str,
        task_names: Iterable[str],
        fingerprints: Iterable[bytes | str | None] | None = None,
    ) -> list[tuple[Any, Exception | None]]:
        """Many stored results in one storage task: for each name, ``(value, None)`` or
        ``(None, error)`` as :meth:`read_task` returns or raises (``fingerprints``: one
        per name, or None). The FileStorage beneath reads them with its ``read_tasks``
        (concurrently, on remote filesystems)."""
        names = list(task_names)
        stamps = [None] * len(names) if fingerprints is None else list(fingerprints)
        if len(stamps) != len(names):
            raise ValueError(f"read_tasks got {len(stamps)} fingerprints for {len(names)} names")
        found: list[tuple[Any, Exception | None]]
        found = self._call("read_tasks", workflow_name, names, stamps)
        return found

    def read_fingerprints(
        self, workflow_name: str, task_names: Iterable[str]
    ) -> Mapping[str, bytes | Exception | None]:
        result: Mapping[str, bytes | Exception | None]
        result = self._call("read_fingerprints", workflow_name, list(task_names))
        return result

    def read_header(self, workflow_name: str, task_name: str) -> Any:
        """The stored result's header (what ``fuse show`` prints), read there."""
        return self._call("read_header", workflow_name, task_name)

    def file_exists(self, workflow_name: str, task_name: str) -> bool:
        return bool(self._call("file_exists", workflow_name, task_name))

    def list_tasks(self, workflow_name: str, pattern: str = "*") -> list[str]:
        return list(self._call("list_tasks", workflow_name, pattern))

    def remove_task(
        self, workflow_name: str, task_name: str | None = None, pattern: str | None = None
    ) -> None:
        self._call("remove_task", workflow_name, task_name, pattern)

    def remove_workflow(self, workflow_name: str) -> None:
        self._call("remove_workflow", workflow_name)

    def save_run_record(self, workflow_name: str, run_id: str, data: bytes) -> None:
        """Keep a run record (see :class:`functionfuse.contracts.RunRecordStorage`) there."""
        self._call("save_run_record", workflow_name, run_id, data)

    def list_run_records(self, workflow_name: str) -> list[str]:
        return list(self._call("list_run_records", workflow_name))

    def read_run_record(self, workflow_name: str, run_id: str) -> bytes:
        return bytes(self._call("read_run_record", workflow_name, run_id))

    def collect_garbage(self, workflow_name: str) -> int:
        """Remove side files no result references (see FileStorage), there."""
        return int(self._call("collect_garbage", workflow_name))

    def register_persistent_serializers(self, *serializers: Any) -> None:
        """Registered on the storage beneath, which travels with every storage task."""
        register = getattr(self._local, "register_persistent_serializers", None)
        if register is None:
            raise ConfigurationError(
                f"{self._local!r} takes no persistent serializers (it has no "
                "register_persistent_serializers method)"
            )
        register(*serializers)

    # -- where calls run ------------------------------------------------------------------

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if _runs_here(self._remote_args):
            return getattr(self._local, method)(*args, **kwargs)
        self._connect()
        task = _storage_task().options(**self._remote_args)
        try:
            call = task.remote(self._local, method, args, kwargs)
        except Exception as error:
            raise _unsendable(method, args, error) from error
        ok, value = ray.get(call)
        if not ok:
            raise value
        return value

    def _connect(self) -> None:
        """Join Ray if needed; check once that some machine has the resources asked for."""
        wanted = _custom_resources(self._remote_args)
        if not ray.is_initialized():
            if self._ray_init_args is None and wanted:
                raise ConfigurationError(
                    f"this process is not connected to Ray, and the ray storage at "
                    f"{self.url!r} has no rayInitArgs to connect with; a Ray started here "
                    f"would have none of the resources its remoteArgs ask for "
                    f"({', '.join(map(repr, wanted))}). To fix: give rayInitArgs "
                    "(e.g. {'address': 'auto'} to join the cluster of this machine), or "
                    "call ray.init(...) first"
                )
            ensure_ray(self._ray_init_args)
        if self._checked:
            return
        if wanted:
            available = ray.cluster_resources()  # type: ignore[no-untyped-call]
            missing = [name for name in wanted if available.get(name, 0) <= 0]
            if missing:
                raise ConfigurationError(
                    f"no machine of this Ray cluster has the resource "
                    f"{', '.join(map(repr, missing))} that the ray storage's remoteArgs "
                    f"{self._remote_args!r} ask for, so its calls would wait forever. To "
                    "fix: start the storage machine with it (ray start "
                    f"--resources='{{\"{missing[0]}\": 1}}'), join the cluster that has "
                    "it (rayInitArgs={'address': 'auto'}), or change remoteArgs"
                )
        self._checked = True


_REQUIRED_HELP: Final = {
    "path": "the folder on the storage machine",
    "remoteArgs": "where storage calls run, e.g. {'resources': {'_disk': 0.001}}, or {} "
    "for any machine",
}


def _unknown_option(name: object) -> str:
    allowed = (*_ORIGINAL_OPTIONS, *_FILE_OPTIONS)
    message = f"unknown ray storage option {name!r}"
    if isinstance(name, str):
        key = name.replace("-", "_").lower()
        meant = _SPELLINGS.get(key) or next(
            (option for option in allowed if option.lower() == key.replace("_", "")), None
        )
        if meant is None:
            close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.7)
            meant = close[0] if close else None
        if meant is not None:
            message += f": the original Function Fuse spells it {meant!r}"
            if meant == "rayInitArgs" and key in ("rayinit", "ray_init"):
                message += (
                    " (the keyword arguments of ray.init, e.g. {'address': 'auto'}, not a flag)"
                )
    return f"{message}. Options: {', '.join(allowed)}"


def _checked_remote_args(remote_args: object) -> dict[str, Any]:
    if not isinstance(remote_args, Mapping):
        raise ConfigurationError(
            "ray storage option remoteArgs must be a dict of Ray task options such as "
            f"{{'resources': {{'_disk': 0.001}}}}, got {type(remote_args).__name__} "
            f"{remote_args!r}"
        )
    args = dict(remote_args)
    reserved = sorted(_RESERVED.intersection(args))
    if reserved:
        raise ConfigurationError(
            f"ray storage option remoteArgs sets {', '.join(reserved)}, which "
            "functionfuse-ray sets itself; remove it"
        )
    try:
        _storage_task().options(**args)
    except (ValueError, TypeError) as error:
        raise ConfigurationError(
            f"Ray refused the ray storage's remoteArgs {args!r}: {error}"
        ) from error
    return args


def _local_storage(
    path: str | os.PathLike[str] | Storage,
    signing_key: str | bytes | None,
    always_read: bool,
    fsync: bool,
) -> Storage:
    if isinstance(path, Storage) and not isinstance(path, (str, os.PathLike)):
        if signing_key is not None or always_read or fsync:
            raise ConfigurationError(
                "give signing_key, always_read and fsync to the storage object itself, "
                "not to a RayFileStorage built around it"
            )
        return path
    from functionfuse_fs import FileStorage  # functionfuse-fs: only for this kind

    storage = FileStorage(path, signing_key=signing_key, always_read=always_read, fsync=fsync)
    if storage.protocol == "memory":
        raise ConfigurationError(
            f"a ray storage keeps results in a folder; {storage.url!r} would live inside "
            "whichever worker process ran each call. Use a folder path"
        )
    return storage


def _custom_resources(remote_args: Mapping[str, Any]) -> list[str]:
    resources = remote_args.get("resources") or {}
    return [str(name) for name, amount in dict(resources).items() if amount]


def _runs_here(remote_args: Mapping[str, Any]) -> bool:
    """Whether this process is a Ray worker placed where ``remote_args`` send tasks: it
    holds a share of each custom resource they ask for, and is on the node a hard node
    affinity names. Any other placement option (a placement group...) cannot be checked
    from inside: a task is sent then, which is always right."""
    if not ray.is_initialized():
        return False
    context = ray.get_runtime_context()
    if context.worker.mode != ray.WORKER_MODE:
        return False
    wanted = _custom_resources(remote_args)
    if wanted:
        held = context.get_assigned_resources()  # type: ignore[no-untyped-call]
        if any(held.get(name, 0) <= 0 for name in wanted):
            return False
    strategy = remote_args.get("scheduling_strategy")
    if strategy is None or strategy in ("DEFAULT", "SPREAD"):
        return True
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    if isinstance(strategy, NodeAffinitySchedulingStrategy):
        return bool(strategy.soft) or strategy.node_id == context.get_node_id()
    return False


def _unsendable(method: str, args: tuple[Any, ...], error: Exception) -> StorageError:
    """The error of a call whose arguments Ray could not send: for ``save``, the
    file storage's own (the result cannot be pickled; nothing was stored)."""
    if method == "save" and len(args) >= 3:
        workflow_name, task_name, obj = args[:3]
        try:
            ray.cloudpickle.dumps(obj)  # type: ignore[no-untyped-call]
        except Exception as reason:
            error = reason
        return StorageError(
            f"cannot save the result of task {task_name!r} of workflow {workflow_name!r}: "
            f"it cannot be pickled ({type(error).__name__}: {_short(error)}). Return a "
            "picklable value, or exclude the node from storage; nothing was stored."
        )
    return StorageError(
        f"cannot send the arguments of storage call {method}() to the storage machine "
        f"({type(error).__name__}: {_short(error)})"
    )


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return (text[:200] + "...") if len(text) > 200 else text.rstrip(".")


def _sendable(error: Exception) -> Exception:
    """``error`` if it survives the trip back, else a StorageError with its text."""
    try:
        pickle.loads(ray.cloudpickle.dumps(error))  # type: ignore[no-untyped-call]
    except Exception:
        kind = type(error)
        return StorageError(f"{kind.__module__}.{kind.__qualname__}: {error}")
    return error


def _run_method(
    storage: Any, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[bool, Any]:
    """A storage method, run where the task was placed: ``(True, result)`` or
    ``(False, error)``, the error as raised there (or a StorageError with its text when
    it would not survive the trip back; so too the errors ``read_tasks`` returns)."""
    try:
        result = getattr(storage, method)(*args, **kwargs)
    except Exception as error:
        return False, _sendable(error)
    if method == "read_tasks":
        result = [(value, None if error is None else _sendable(error)) for value, error in result]
    return True, result


@functools.cache
def _storage_task() -> Any:
    return ray.remote(_run_method)


def _restore(
    local: Storage, remote_args: dict[str, Any], ray_init_args: dict[str, Any] | None
) -> RayFileStorage:
    storage = RayFileStorage.__new__(RayFileStorage)
    storage._local = local
    storage._remote_args = remote_args
    storage._ray_init_args = ray_init_args
    storage._checked = False
    return storage
