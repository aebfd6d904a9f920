"""Lineage for tools and users: what a stored result's fingerprint is made of, which code
counts as the project's, and what a run would do.

A backend saves every result with a stamp (see :func:`functionfuse.runtime.save_result`):
the node's fingerprint, the fingerprints of its code and of its literal arguments, the
first bytes of its parents' fingerprints, and the parts they were made of (each
function, class and constant of the project by name, each argument, each installed
distribution with its version). A storage hands it back in the result's header
(``FileStorage.read_header(...).fingerprint``); :func:`describe_stamp` puts it in words
for people, as ``fuse show`` prints it.

:func:`configure` says which modules count as installed (by distribution and version)
or as the project's (walked by their code), and whether versions count. :func:`plan`
says what a run would do — which nodes would run, and why — without running anything
(``fuse plan`` prints it).
"""

from functionfuse._dry_run import Plan, PlannedNode, plan
from functionfuse._fingerprint import describe_stamp
from functionfuse._fingerprint_installed import configure

__all__ = ["Plan", "PlannedNode", "configure", "describe_stamp", "plan"]
