"""The dataset contract, declared once: neither the simulator nor the detectors own it.

- :mod:`~snoopbench.contract.schema`: format ids, closed vocabularies and every table's Arrow schema
  with its column docs;
- :mod:`~snoopbench.contract.errors`: the one error family, mapped to exit codes by the CLI.

The simulator writes through this package, the harness reads through it, and detectors take their
vocabularies from it rather than restating them.
"""
