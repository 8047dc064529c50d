"""Lightning callbacks of nlpzoo."""

from nlpzoo.callbacks.throughput import ThroughputMeter

__all__ = ["ThroughputMeter"]
