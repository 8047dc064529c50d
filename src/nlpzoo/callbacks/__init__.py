"""Lightning callbacks of nlpzoo."""

from nlpzoo.callbacks.plots import PlotWriter
from nlpzoo.callbacks.rng_state import RngStateCheckpoint
from nlpzoo.callbacks.throughput import ThroughputMeter

__all__ = ["PlotWriter", "RngStateCheckpoint", "ThroughputMeter"]
