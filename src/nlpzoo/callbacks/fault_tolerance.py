"""Preemption and exact resume: SIGTERM (or SLURM's SIGUSR1) saves a resumable checkpoint at the
next batch boundary, and a resumed run replays the same random numbers as one never interrupted.

Lightning does the signal plumbing: its `_SignalConnector` turns SIGTERM into a flag that the loops
check after each batch, then raise `SIGTERMException` and call every callback's `on_exception`;
`OnExceptionCheckpoint` is the callback that saves there. The data position is kept by the train
loader itself (a torchdata `StatefulDataLoader`, saved by Lightning's fit loop; its shuffles draw from
the loader's own generator), and `ExactResume` restores the global random states.
"""

from __future__ import annotations

import contextlib
import random
import signal
from collections.abc import Iterator
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.fabric.utilities.data import _set_sampler_epoch
from lightning.pytorch.callbacks import OnExceptionCheckpoint
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_info

PREEMPTED_EXIT_CODE = 128 + signal.SIGTERM  # what a shell reports for a process ended by SIGTERM (143)


class PreemptionCheckpoint(OnExceptionCheckpoint):
    """On SIGTERM (and, under SLURM, its requeue signal SIGUSR1) save `dirpath/filename.ckpt` after the
    current batch, so `ckpt_path=auto` resumes there.

    Unlike its parent it saves only for preemption (a crash or a NaN loss must not overwrite the last
    good checkpoint) and keeps the file after a successful run (it is the run's `last.ckpt`).
    """

    def __init__(self, dirpath: str, filename: str = "last") -> None:
        super().__init__(dirpath, filename)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning registered its handlers just before; it restores the originals after fit.
        if SLURMEnvironment.detect() and hasattr(signal, "SIGUSR1"):
            previous = signal.getsignal(signal.SIGUSR1)

            def stop_after_this_batch(signum: int, frame: Any) -> None:
                if callable(previous):
                    previous(signum, frame)  # Lightning's SLURM handler: hpc checkpoint and requeue
                signal.raise_signal(signal.SIGTERM)  # then stop cleanly at the batch boundary, as for SIGTERM

            signal.signal(signal.SIGUSR1, stop_after_this_batch)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        # Also mid-validation inside fit (the loops raise there too); never during the sanity check.
        fitting = trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking
        if not (isinstance(exception, SIGTERMException) and fitting):
            return
        trainer.save_checkpoint(self.ckpt_path, weights_only=False)  # the full training state
        rank_zero_info(
            f"preempted at global step {trainer.global_step} (epoch {trainer.current_epoch}): saved "
            f"{self.ckpt_path}; run the same command with ckpt_path=auto (and the same hydra.run.dir) to resume"
        )

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Keep the checkpoint: it is the run's `last.ckpt`, not a temporary crash file."""


@contextlib.contextmanager
def exit_code_on_preemption() -> Iterator[None]:
    """Turn Lightning's `SIGTERMException` (exit status 0) into exit status 143, so a scheduler or a
    shell `&&` chain sees that the run stopped early rather than finished."""
    try:
        yield
    except SIGTERMException:
        raise SystemExit(PREEMPTED_EXIT_CODE) from None


class ExactResume(L.Callback):
    """Makes a resumed run continue exactly where the checkpoint left off: the same next batch and the
    same random numbers (dropout masks, shuffles) as a run never interrupted.

    Saves the Python, NumPy and torch random states in each checkpoint and restores them at the first
    epoch or batch start after loading, so the resumed run's sanity check and loader set-up cannot
    shift them. It also applies the train loader's saved position, which Lightning 2.6 drops when
    `configure_optimizers` asks for `trainer.estimated_stepping_batches` (Lightning issue #20550).
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return collect_random_states()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict or None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        fit_loop = trainer.fit_loop
        if fit_loop.restarting and fit_loop._combined_loader_states_to_load and fit_loop._data_fetcher is not None:
            # What Lightning's own resume path does when the loader was not built early (the fix of #20550):
            # the sampler's epoch first (it seeds the shuffle), then the saved position, then a fresh iterator.
            for loader in fit_loop._combined_loader.flattened:
                _set_sampler_epoch(loader, fit_loop.epoch_progress.current.processed)
            fit_loop._load_combined_loader_states()
            iter(fit_loop._data_fetcher)

    def _restore_random_states(self) -> None:
        if self._pending is not None:
            set_random_states(self._pending)
            self._pending = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore_random_states()

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, idx: int) -> None:
        self._restore_random_states()


def collect_random_states() -> dict[str, Any]:
    """Every global random state as tensors and plain values (loadable with `weights_only=True`)."""
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached_gaussian),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["torch_cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict[str, Any]) -> None:
    """Inverse of `collect_random_states`."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached_gaussian = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached_gaussian))
    torch.set_rng_state(states["torch"])
    if "torch_cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["torch_cuda"])
