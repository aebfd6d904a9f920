"""Lineage for tools: what the fingerprint stamp stored with a result is made of.

A backend saves every result with a stamp (see :func:`functionfuse.runtime.save_result`):
the node's fingerprint, the fingerprints of its code and of its literal arguments, and
the first bytes of its parents' fingerprints. A storage hands it back in the result's
header (``FileStorage.read_header(...).fingerprint``). :func:`describe_stamp` puts it in
words for people, as ``fuse show`` prints it.
"""

from functionfuse._fingerprint import describe_stamp

__all__ = ["describe_stamp"]
