"""functionfuse-fs: node results on the local disk, S3, memory or any fsspec URL.

Configure it by entry-point name — ``file``, ``s3``, ``memory`` or ``fsspec`` — with
:func:`functionfuse.storage_factory`, or build a :class:`FileStorage` directly.
"""

from functionfuse_fs._config import KEY_ENV
from functionfuse_fs._format import FORMAT_VERSION, ResultHeader
from functionfuse_fs._serializers import NumpySerializer, PersistentSerializer
from functionfuse_fs._storage import FileStorage, MemoryStorage, S3Storage

#: The same class as :class:`FileStorage`, under the name of the ``fsspec`` kind.
FsspecStorage = FileStorage

__all__ = [
    "FORMAT_VERSION",
    "KEY_ENV",
    "FileStorage",
    "FsspecStorage",
    "MemoryStorage",
    "NumpySerializer",
    "PersistentSerializer",
    "ResultHeader",
    "S3Storage",
]
