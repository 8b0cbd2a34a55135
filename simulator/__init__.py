"""snoopbench simulator: synthetic audit logs of a police force, with labelled misuse.

The simulator knows nothing of detectors; the two meet only through the dataset format in
:mod:`simulator.schema`.
"""

__version__ = "0.1.0"
