"""Lightning callbacks of nlpzoo."""

from nlpzoo.callbacks.fault_tolerance import ExactResume, PreemptionCheckpoint
from nlpzoo.callbacks.non_finite_loss import NonFiniteLossGuard
from nlpzoo.callbacks.throughput import ThroughputMeter

__all__ = ["ExactResume", "NonFiniteLossGuard", "PreemptionCheckpoint", "ThroughputMeter"]
