"""``fuse plan``: what ``fuse run`` would do, without running anything.

For each node of TARGET's workflow, in graph order: ``up to date`` (its stored result
would be used) or ``would run``, and why — ``code changed (helpers.scale)``, ``argument
'k' changed``, ``scikit-learn 1.5.2 → 1.6.0``, ``upstream changed ('model')``, ``not
stored``... Nothing runs, no hook is called and nothing is written to storage; the
exit code is 0 either way (like ``make -n``).
"""

from __future__ import annotations

import argparse

from functionfuse_cli._errors import EXIT_OK

__all__ = ["plan"]


def plan(args: argparse.Namespace) -> int:
    from functionfuse.lineage import plan as plan_of
    from functionfuse_cli._run import RESUME_CHOICES, configured_workflow

    wf, _ = configured_workflow(args)
    resume = RESUME_CHOICES[args.resume] if args.resume is not None else None
    found = plan_of(wf, resume=resume)
    print(found)
    return EXIT_OK
