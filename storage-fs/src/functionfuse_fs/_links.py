"""What a FileStorage refuses to do through a symbolic link.

A workflow's folder may be a link (a workflow kept on another disk): results are read
and saved through it, but a save there replaces nothing but its own task's result, and
nothing is deleted through it. functionfuse never makes a link where it keeps side files,
so nothing is written or deleted through one there. Apart from
:mod:`functionfuse_fs._storage` because saves and removals
(:mod:`functionfuse_fs._removal`) both check; :class:`_LinkChecks` is a mixin of
FileStorage.
"""

from __future__ import annotations

from functionfuse import StorageError
from functionfuse_fs._format import FormatError
from functionfuse_fs._names import encode_name
from functionfuse_fs._results import SIDE_FOLDER, _Results

__all__: list[str] = []


class _LinkChecks(_Results):
    """FileStorage's refusals to write or delete through links (a mixin)."""

    __slots__ = ()

    def _check_save_links(
        self, workflow_name: str, task_name: str, folder: str, path: str, side_files: bool
    ) -> None:
        """Refuse a save that would write or replace a file through a link it must not
        follow (see :meth:`save`)."""
        files = self._files
        action = f"save the result of task {task_name!r} of workflow {workflow_name!r}"
        if side_files:
            side_root = files.join(folder, SIDE_FOLDER)
            self._refuse_side_link(side_root, action)
            self._refuse_side_link(files.join(side_root, encode_name(task_name)), action)
        if not files.islink(folder):
            return
        # A workflow kept on another disk: replace nothing there but this task's result.
        reason: str | None
        if files.islink(path):
            reason = "it is a symbolic link"
        else:
            try:
                reason = self._not_a_result(self._header_at(path), encode_name(task_name))
            except FileNotFoundError:
                return  # nothing to replace
            except FormatError as exc:
                reason = str(exc)
            except OSError as exc:
                reason = f"it cannot be read ({type(exc).__name__}: {exc})"
        if reason is not None:
            raise StorageError(
                f"cannot {action}: the workflow's folder {files.display(folder)} is a "
                f"symbolic link, and {files.display(path)} in it is not a stored result "
                f"of this task ({reason}). Through a link, a save replaces nothing but "
                "the task's own result: move that file away, or give the node another name."
            )

    def _refuse_linked_workflow(self, workflow_name: str, folder: str, action: str) -> None:
        """Raise StorageError if ``folder``, the folder of ``workflow_name``, is a link:
        nothing is deleted through one."""
        files = self._files
        if files.islink(folder):
            raise StorageError(
                f"cannot {action}: the folder of workflow {workflow_name!r}, "
                f"{files.display(folder)}, is a symbolic link, and functionfuse deletes "
                "nothing through a link (what it points to may be outside the storage "
                f"{self._url}). Results are still read and saved through it. To remove "
                "them, delete them where the link points; to drop the workflow from this "
                "storage, remove the link itself (not what it points to)."
            )

    def _refuse_side_link(self, path: str, action: str) -> None:
        """Raise StorageError if ``path``, a side-file folder, is a link."""
        files = self._files
        if files.islink(path):
            raise StorageError(
                f"cannot {action}: {files.display(path)} is a symbolic link where "
                "functionfuse keeps side files; it never makes one there, and writes or "
                "deletes nothing through one. Remove the link itself (what it points to "
                "is left alone), then try again."
            )
