"""Preemption and exact resume: SIGTERM (or SLURM's SIGUSR1) saves a resumable checkpoint at the
next batch boundary, and a resumed run replays the same random numbers as one never interrupted.

Lightning does the signal plumbing: its `_SignalConnector` turns SIGTERM into a flag that the loops
check after each batch, then raise `SIGTERMException` and call every callback's `on_exception`;
`PreemptionCheckpoint` saves there. The data position is kept by the train
loader itself (a torchdata `StatefulDataLoader`, saved by Lightning's fit loop), `MidEpochResume`
applies it, and `RngStateCheckpoint` restores the global random states. After fit, `PreemptionAfterFit`
stops the best-checkpoint validation or the test pass the same way, for a partial summary.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import lightning as L
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.fabric.utilities.data import _set_sampler_epoch
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_info

PREEMPTED_EXIT_CODE = 128 + signal.SIGTERM  # what a shell reports for a process ended by SIGTERM (143)


class PreemptionCheckpoint(Checkpoint):
    """On SIGTERM (and, under SLURM, its requeue signal SIGUSR1) save `dirpath/filename.ckpt` after the
    current batch, so `ckpt_path=auto` resumes there.

    Unlike Lightning's `OnExceptionCheckpoint` it saves only for preemption (a crash or a NaN loss must
    not overwrite the last good checkpoint) and keeps the file after a successful run (it is the run's
    `last.ckpt`). It is not one: with an `OnExceptionCheckpoint` Lightning turns `fit(ckpt_path=None)`
    into `"last"`, warns twice on every fresh run, and would resume an old last.ckpt the user did not
    ask for; `training.resolve_ckpt_path` decides what to resume.
    """

    def __init__(self, dirpath: str, filename: str = "last") -> None:
        super().__init__()
        self.dirpath, self.filename = dirpath, filename

    @property
    def ckpt_path(self) -> str:
        return os.path.join(self.dirpath, f"{self.filename}.ckpt")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning registered its handlers just before; it restores the originals after fit.
        if SLURMEnvironment.detect() and hasattr(signal, "SIGUSR1"):
            previous = signal.getsignal(signal.SIGUSR1)

            def stop_after_this_batch(signum: int, frame: Any) -> None:
                if callable(previous):
                    previous(signum, frame)  # Lightning's SLURM handler: hpc checkpoint and requeue
                signal.raise_signal(signal.SIGTERM)  # then stop cleanly at the batch boundary, as for SIGTERM

            signal.signal(signal.SIGUSR1, stop_after_this_batch)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        # Also mid-validation inside fit (the loops raise there too); never during the sanity check.
        fitting = trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking
        if not (isinstance(exception, SIGTERMException) and fitting):
            return
        trainer.save_checkpoint(self.ckpt_path, weights_only=False)  # the full training state
        rank_zero_info(
            f"preempted at global step {trainer.global_step} (epoch {trainer.current_epoch}): saved "
            f"{self.ckpt_path}; run the same command with ckpt_path=auto (and the same hydra.run.dir) to resume"
        )


@contextlib.contextmanager
def exit_code_on_preemption() -> Iterator[None]:
    """Turn Lightning's `SIGTERMException` (exit status 0) into exit status 143, so a scheduler or a
    shell `&&` chain sees that the run stopped early rather than finished."""
    try:
        yield
    except SIGTERMException:
        raise SystemExit(PREEMPTED_EXIT_CODE) from None


class PreemptionAfterFit(L.Callback):
    """SIGTERM after fit (validating the best checkpoint, testing) stops that pass before its next batch, so
    `run_training` writes the summary it has, marked partial, and exits with status 143 as a preempted fit does.

    Lightning's own handler lives only while a pass runs (between passes Python's default ends the process
    at once, with no summary) and a stopped evaluation exits with status 0; `listening()` notes SIGTERM for
    the whole run, and `run()` records which pass it stopped or kept from starting.
    """

    def __init__(self) -> None:
        self.received = False
        self.interrupted: str | None = None  # "validate" or "test": the pass SIGTERM stopped

    @contextlib.contextmanager
    def listening(self) -> Iterator[None]:
        """Note SIGTERM until the block ends; Lightning's handler, set for each fit/validate/test, calls this one too."""
        if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
            yield
            return
        previous = signal.getsignal(signal.SIGTERM)

        def note(signum: int, frame: Any) -> None:
            self.received = True
            if callable(previous):
                previous(signum, frame)

        signal.signal(signal.SIGTERM, note)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)

    def run(
        self, stage: str, evaluate: Callable[[], Sequence[Mapping[str, float]]]
    ) -> Sequence[Mapping[str, float]]:
        """The results of `evaluate()` (trainer.validate or trainer.test), or none once SIGTERM has come."""
        if self.interrupted is not None:
            return []  # an earlier pass was stopped
        if not self.received:  # else it came between passes, or in the last batch of the pass before
            try:
                return evaluate()
            except SIGTERMException:
                pass
        self.interrupted = stage
        rank_zero_info(f"SIGTERM: stopped the {stage} pass; checkpoints kept, summary.json marked partial")
        return []

    def on_validation_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        self._stop_if_received(trainer)

    def on_test_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        self._stop_if_received(trainer)

    def _stop_if_received(self, trainer: L.Trainer) -> None:
        # In fit, Lightning and PreemptionCheckpoint handle it; here also the signal Lightning missed by
        # arriving while the pass was loading its checkpoint.
        if self.received and trainer.state.fn != TrainerFn.FITTING:
            raise SIGTERMException


class MidEpochResume(L.Callback):
    """A run resumed from a mid-epoch checkpoint continues with the batch after the last one trained.

    Lightning saves the train loader's position (a torchdata `StatefulDataLoader`) but drops it on
    resume when `configure_optimizers` asks for `trainer.estimated_stepping_batches`, as nlpzoo's
    schedules do (Lightning issue #20550); this applies it, as the fix proposed there does.
    """

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        fit_loop = trainer.fit_loop
        if (
            fit_loop.restarting
            and fit_loop._combined_loader_states_to_load
            and fit_loop._data_fetcher is not None
        ):
            # The sampler's epoch first (it seeds the order), then the saved position, then a fresh iterator.
            # Lightning's loop internals: the combined loader exists once restarting, `processed` is set at run time
            for loader in fit_loop._combined_loader.flattened:  # type: ignore[union-attr]
                _set_sampler_epoch(loader, fit_loop.epoch_progress.current.processed)  # type: ignore[attr-defined]
            fit_loop._load_combined_loader_states()
            iter(fit_loop._data_fetcher)
