"""snoopbench detectors: the plug-in interface, the registry and the baselines.

Importing this package is cheap: it never imports a detector's module (nor its optional heavy
dependencies) until that detector is asked for by id.
"""

from snoopbench.detectors.base import Detector, NotFittedError, hash64
from snoopbench.detectors.params import ParamError
from snoopbench.detectors.registry import (
    DetectorSpec, SpecError, available, check_spec, create, load, parse_spec, register,
)

__all__ = [
    "Detector", "DetectorSpec", "NotFittedError", "ParamError", "SpecError", "available",
    "check_spec", "create", "hash64", "load", "parse_spec", "register",
]
