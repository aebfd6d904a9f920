"""Removing stored results: by name, by pattern, a whole workflow, and the garbage that
saves leave behind for :meth:`collect_garbage` (side files no result references,
temporary files of killed writes).

Apart from saving (:mod:`functionfuse_fs._storage`) and reading
(:mod:`functionfuse_fs._reads`); :class:`_Removal` is a mixin of FileStorage. Nothing is
removed through a link (:mod:`functionfuse_fs._links`).
"""

from __future__ import annotations

from functionfuse import StorageIntegrityError
from functionfuse_fs._files import TEMP_PREFIX
from functionfuse_fs._format import FormatError, parse_header, verify
from functionfuse_fs._links import _LinkChecks
from functionfuse_fs._names import encode_name
from functionfuse_fs._pickling import referenced_names
from functionfuse_fs._results import SIDE_FOLDER

__all__: list[str] = []


class _Removal(_LinkChecks):
    """FileStorage's ``remove_task``, ``remove_workflow`` and ``collect_garbage`` (a
    mixin)."""

    __slots__ = ()

    def remove_task(
        self, workflow_name: str, task_name: str | None = None, pattern: str | None = None
    ) -> None:
        """Remove the result of ``task_name``, or of every task matching ``pattern``.

        ``pattern`` wins when both are given (as in the original Function Fuse). A
        missing ``task_name`` raises ``FileNotFoundError``; a pattern may match nothing.
        By name, the file stored under the task's name goes whatever it holds (a damaged
        result too, as integrity errors advise; a link there is removed, not what it
        points to). By pattern, only what :meth:`list_tasks` lists goes; with a key,
        each one's signature is checked first, and those that fail are left and named
        in a :class:`functionfuse.StorageIntegrityError` raised after the rest are gone.
        Side files go with their result (a save of the same task at the same time
        may then leave a result whose side files are gone: it is refused when read).

        Nothing is removed through a link: a workflow folder or side-file folder that
        is a symbolic link raises StorageError, naming it, before anything is removed.
        """
        if task_name is None and pattern is None:
            raise TypeError("remove_task() needs a task_name or a pattern")
        files = self._files
        folder = self._folder(workflow_name)
        if pattern is None:
            assert task_name is not None
            action = f"remove the result of task {task_name!r} of workflow {workflow_name!r}"
        else:
            action = f"remove the results of workflow {workflow_name!r} matching {pattern!r}"
        self._refuse_linked_workflow(workflow_name, folder, action)
        if pattern is None:
            assert task_name is not None
            targets = [(task_name, encode_name(task_name))]
        else:
            targets = self._results(folder, pattern)
        side_root = files.join(folder, SIDE_FOLDER)
        if files.has_links and targets:
            self._refuse_side_link(side_root, action)
            for _, filename in targets:
                self._refuse_side_link(files.join(side_root, filename), action)
        untrusted: list[str] = []
        for name, filename in targets:
            path = files.join(folder, filename)
            if pattern is not None and self._signer.signed:
                reason = self._signature_problem(workflow_name, name, path)
                if reason is not None:
                    untrusted.append(f"task {name!r} ({files.display(path)}): {reason}")
                    continue
            try:
                files.remove_file(path)
            except FileNotFoundError:
                if pattern is None:
                    self._not_found(workflow_name, name, path)
                # Removed since it was listed: its side files go all the same.
            files.remove_tree(files.join(side_root, filename))
        if untrusted:
            raise StorageIntegrityError(
                f"left {len(untrusted)} stored file(s) of workflow {workflow_name!r} "
                f"matching {pattern!r} whose signature does not check out, so they may "
                f"not be this storage's results: {'; '.join(untrusted)}. The other "
                "matches were removed. Look at them, and remove each by its name "
                f"(remove_task({workflow_name!r}, TASK)) if it should go."
            )

    def remove_workflow(self, workflow_name: str) -> None:
        """Remove every stored result of ``workflow_name``; nothing happens if none.

        A workflow folder that is a symbolic link raises StorageError (nothing is
        deleted where it points); links inside the folder are removed, not followed.
        """
        folder = self._folder(workflow_name)
        self._refuse_linked_workflow(workflow_name, folder, f"remove workflow {workflow_name!r}")
        self._files.remove_tree(folder)

    def collect_garbage(self, workflow_name: str) -> int:
        """Remove the files of ``workflow_name`` that no stored result needs; return how
        many were removed.

        That is: side files that the task's current result does not reference (left by
        earlier saves of the task), side folders of tasks with no result (a save killed
        between its side files and its result), and temporary files of local writes
        killed before their rename. A task whose result cannot be checked (damaged, or
        signed with another key) keeps all its side files.

        Why saves do not do this themselves: side files are named by the SHA-256 of
        their content and written before the result that references them, so while
        another process saves the same task, a side file that the current result does
        not reference may be referenced by the result about to replace it. No save can
        tell, short of a lock that object stores do not offer; so a save only adds
        files, and its result never refers to a file another save deletes.

        For the same reason, run this while nothing saves to or removes from the
        workflow (between runs): a save in progress would lose its side files (its
        result is then refused by :meth:`read_task`, and re-run by backends — never
        read wrong) or its temporary file (the save fails). It may race with itself:
        several ``collect_garbage`` calls at once, and readers, are safe.

        It follows no link: a workflow folder, ``.side`` folder or task side folder
        that is a symbolic link raises StorageError, naming it, before anything is
        removed.
        """
        files = self._files
        folder = self._folder(workflow_name)
        action = f"collect the garbage of workflow {workflow_name!r}"
        self._refuse_linked_workflow(workflow_name, folder, action)
        side_root = files.join(folder, SIDE_FOLDER)
        if files.has_links:
            self._refuse_side_link(side_root, action)
            for name in files.list_links(side_root):
                self._refuse_side_link(files.join(side_root, name), action)
        removed = 0
        results = set()
        for filename in files.list_files(folder):
            if filename.startswith(TEMP_PREFIX):
                removed += self._remove_quietly(files.join(folder, filename))
            elif not filename.startswith("."):
                results.add(filename)
        for filename in files.list_folders(side_root):
            side_folder = files.join(side_root, filename)
            present = files.list_files(side_folder)
            if filename not in results:
                files.remove_tree(side_folder)
                removed += len(present)
                continue
            in_use = self._side_files_in_use(workflow_name, folder, filename)
            if in_use is None:
                continue
            for name in present:
                if name not in in_use:
                    removed += self._remove_quietly(files.join(side_folder, name))
        return removed

    def _signature_problem(self, workflow_name: str, task_name: str, path: str) -> str | None:
        """Why the file at ``path`` is not a correctly signed result of ``task_name``;
        None if it is one (or is gone)."""
        try:
            data = self._files.read(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"it cannot be read ({type(exc).__name__}: {exc})"
        try:
            verify(data, self._signer, workflow_name, task_name)
        except FormatError as exc:
            return str(exc)
        return None

    def _side_files_in_use(self, workflow_name: str, folder: str, filename: str) -> set[str] | None:
        """Names of the side files the result stored as ``filename`` may reference (a
        superset), or None if it cannot be read and checked as that task's result.
        Nothing is unpickled."""
        try:
            data = self._files.read(self._files.join(folder, filename))
            task_name = parse_header(data).task_name
            if encode_name(task_name) != filename:
                return None  # another task's result, copied or renamed
            stream, _ = verify(data, self._signer, workflow_name, task_name)
            return referenced_names(stream)
        except (OSError, FormatError, ValueError):
            return None

    def _remove_quietly(self, path: str) -> int:
        """Remove a file another ``collect_garbage`` may remove first: 1 if it was here."""
        try:
            self._files.remove_file(path)
        except FileNotFoundError:
            return 0
        return 1
