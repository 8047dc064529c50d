"""Lightning callbacks of nlpzoo."""

from nlpzoo.callbacks.throughput import ThroughputMeter
from nlpzoo.callbacks.tracking import PredictionTable, RunMetadata, WandbWatch

__all__ = ["PredictionTable", "RunMetadata", "ThroughputMeter", "WandbWatch"]
