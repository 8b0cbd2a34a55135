"""snoopbench simulator: synthetic audit logs of a police force, with labelled misuse.

The simulator knows nothing of detectors; the two meet only through the dataset contract in
:mod:`snoopbench.contract`.
"""

from snoopbench import __version__  # noqa: F401  (recorded in every manifest)
