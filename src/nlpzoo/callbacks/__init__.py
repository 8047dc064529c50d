"""Lightning callbacks of nlpzoo."""

from nlpzoo.callbacks.rng_state import RngStateCheckpoint
from nlpzoo.callbacks.throughput import ThroughputMeter
from nlpzoo.callbacks.tracking import PredictionTable, RunMetadata, WandbWatch

__all__ = ["PredictionTable", "RngStateCheckpoint", "RunMetadata", "ThroughputMeter", "WandbWatch"]
