"""Lightning callbacks of nlpzoo."""

from nlpzoo.callbacks.fault_tolerance import MidEpochResume, PreemptionCheckpoint
from nlpzoo.callbacks.non_finite_loss import NonFiniteLossGuard
from nlpzoo.callbacks.rng_state import RngStateCheckpoint
from nlpzoo.callbacks.throughput import ThroughputMeter
from nlpzoo.callbacks.tracking import BestCheckpointArtifact, PredictionTable, RunMetadata, WandbWatch

__all__ = [
    "BestCheckpointArtifact",
    "MidEpochResume",
    "NonFiniteLossGuard",
    "PredictionTable",
    "PreemptionCheckpoint",
    "RngStateCheckpoint",
    "RunMetadata",
    "ThroughputMeter",
    "WandbWatch",
]
