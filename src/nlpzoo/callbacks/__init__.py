"""Lightning callbacks of nlpzoo."""

from nlpzoo.callbacks.rng_state import RngStateCheckpoint
from nlpzoo.callbacks.throughput import ThroughputMeter
from nlpzoo.callbacks.tracking import BestCheckpointArtifact, PredictionTable, RunMetadata, WandbWatch

__all__ = [
    "BestCheckpointArtifact",
    "PredictionTable",
    "RngStateCheckpoint",
    "RunMetadata",
    "ThroughputMeter",
    "WandbWatch",
]
