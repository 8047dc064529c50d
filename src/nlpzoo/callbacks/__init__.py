"""Lightning callbacks of nlpzoo."""

from nlpzoo.callbacks.rng_state import RngStateCheckpoint
from nlpzoo.callbacks.throughput import ThroughputMeter

__all__ = ["RngStateCheckpoint", "ThroughputMeter"]
