"""Lightning callbacks of nlpzoo."""

from nlpzoo.lazy import lazy_attributes

_LOCATIONS = {
    "MidEpochResume": "fault_tolerance",
    "PreemptionAfterFit": "fault_tolerance",
    "PreemptionCheckpoint": "fault_tolerance",
    "NonFiniteLossGuard": "non_finite_loss",
    "PlotWriter": "plots",
    "RngStateCheckpoint": "rng_state",
    "ExponentialMovingAverage": "weight_averaging",
    "ThroughputMeter": "throughput",
    "BestCheckpointArtifact": "tracking",
    "PredictionTable": "tracking",
    "RunMetadata": "tracking",
    "WandbWatch": "tracking",
}
__all__ = sorted(_LOCATIONS)
__getattr__ = lazy_attributes(__name__, _LOCATIONS)
