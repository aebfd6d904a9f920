"""Config files: the backend, the storage and per-node rules, validated strictly.

A config is a TOML file (JSON for a ``.json`` file) or the same data as a mapping::

    workflow_name = "experiment"          # default name of the workflow (optional)
    resume = "fingerprint"                # optional; or "name", or false (see below)

    [backend]                             # optional; default: the "local" backend
    name = "ray"                          # entry-point name in functionfuse.backends
    options = {ray_init_args = {num_cpus = 4}}   # keywords of the backend's class

    [storage]                             # optional; default: no storage
    url = "s3://bucket/runs"              # or: kind = "file", options = {path = "runs"}
    options = {endpoint_url = "http://127.0.0.1:9000"}

    [[rules]]                             # applied in order; a later rule wins
    pattern = "train.*"                   # regular expression, full match on node names
    remote_args = {num_gpus = 1}
    plugin = {name = "random_state", options = {seed = 0}}
    storage = false

``resume`` sets the workflow's :attr:`~functionfuse.BaseWorkflow.resume`: use a stored
result only when its node's code, literal arguments and upstream are unchanged
(``"fingerprint"``, the default), any result stored under the node's name
(``"name"``), or none (``false``: run everything). ``run(resume=...)`` and
``fuse run --resume`` win over it.

Every key, name and type is checked before anything runs; an error names the file,
the key path (``rules[1].plugin.name``) and what is allowed. Reading a TOML file is the
only part that needs anything beyond the standard library: ``tomllib`` on Python
3.11+, ``tomli`` on 3.10 (``pip install tomli``; the ``fuse`` command brings it).

:func:`from_config` and :func:`load_config` are all most code needs (both are also
importable from :mod:`functionfuse`). Tools that change a config before it is checked,
such as the ``fuse`` command's ``--set``, read it with :func:`read_config_file` and check
it with :func:`parse_config`. Values under ``storage`` or under a key that looks secret
(:func:`sensitive_key`) never appear in an error message: :func:`secret_strings` and
:func:`scrub` clean them out of any text, :func:`redact_url` out of a storage URL, and
:func:`describe_hidden` says what such a value is without showing it.
"""

from __future__ import annotations

from functionfuse._config_model import DEFAULT_BACKEND, PluginSpec, Rule, WorkflowConfig
from functionfuse._config_reading import ConfigSource, from_config, load_config, read_config_file
from functionfuse._config_secrets import (
    describe_hidden,
    redact_url,
    scrub,
    secret_strings,
    sensitive_key,
    url_secrets,
)
from functionfuse._config_validation import parse_config

__all__ = [
    "DEFAULT_BACKEND",
    "ConfigSource",
    "PluginSpec",
    "Rule",
    "WorkflowConfig",
    "describe_hidden",
    "from_config",
    "load_config",
    "parse_config",
    "read_config_file",
    "redact_url",
    "scrub",
    "secret_strings",
    "sensitive_key",
    "url_secrets",
]
