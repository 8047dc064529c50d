"""Task objectives (loss, metrics, decoding) per task kind, and the `TaskSpec` contract.

Names import their submodule on first use (as `nlpzoo.data` and `nlpzoo.metrics` do), so the
contract modules (`spec`, `tagging`) import nothing else and `metrics/` may use them.
"""

from __future__ import annotations

from nlpzoo.lazy import lazy_attributes

_LOCATIONS = {
    "OBJECTIVES": "build",
    "build_objective": "build",
    "Batch": "objective",
    "Decode": "objective",
    "Outputs": "objective",
    "TaskObjective": "objective",
    "IGNORE_INDEX": "spec",
    "TaskKind": "spec",
    "TaskSpec": "spec",
}
__all__ = sorted(_LOCATIONS)
__getattr__ = lazy_attributes(__name__, _LOCATIONS)
