"""Checkpoint files that survive crashes and never run pickled code: the Trainer's `CheckpointIO` plugin.

A save writes a hidden temporary file in the checkpoint's own folder, fsyncs it and renames it over
the target (`os.replace` is atomic on POSIX), so a kill -9 or a full disk during a save leaves the
previous checkpoint whole. A load always uses `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from nlpzoo.errors import CheckpointError

log = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"  # not `.ckpt`, so ModelCheckpoint and `ckpt_path=auto` never pick one up


def partial_files(target: Path) -> list[Path]:
    """Temporary files a save of `target` leaves behind if it is killed before the rename."""
    return sorted(target.parent.glob(f".{target.name}.*{PARTIAL_SUFFIX}"))


class AtomicCheckpointIO(TorchCheckpointIO):
    """`TorchCheckpointIO` with atomic, fsynced local writes and weights-only loads.

    A failed write (no space left, quota, permissions) raises `CheckpointError` naming the file
    and the cause; the temporary file is removed and the previous checkpoint stays as it was.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        target = Path(path)
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)  # serialize first: a bad object fails before the disk is touched
        self.write_atomically(buffer.getbuffer(), target)

    def write_atomically(self, data: bytes | memoryview, target: Path) -> None:
        """Write `data` to `target` through a temporary file in the same folder and one rename."""
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            for stale in partial_files(
                target
            ):  # left by a save that was killed; only one process writes a path
                stale.unlink(missing_ok=True)
        except OSError as error:
            raise self._write_error(target, error) from error
        temporary = target.parent / f".{target.name}.{os.getpid()}{PARTIAL_SUFFIX}"
        try:
            with open(temporary, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, target)
            _fsync_folder(target.parent)  # make the rename itself durable
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise self._write_error(target, error) from error

    @staticmethod
    def _write_error(target: Path, error: OSError) -> CheckpointError:
        cause = "no space left on the device" if error.errno in (errno.ENOSPC, errno.EDQUOT) else str(error)
        return CheckpointError(
            f"cannot write checkpoint {target}: {cause} ({error.strerror or error}); it was not written and "
            f"the checkpoints already in {target.parent} are intact. Free space there or point "
            "hydra.run.dir at another disk, then resume with ckpt_path=auto"
        )

    def load_checkpoint(
        self,
        path: Any,
        map_location: Callable | Any | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        """Load with `weights_only=True` whatever the caller asks: a checkpoint may come from anywhere."""
        if weights_only is False:
            log.warning("ignoring weights_only=False: nlpzoo loads checkpoints with weights_only=True only")
        return load_weights_only(path, map_location)


def load_weights_only(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """`torch.load(weights_only=True)`: tensors and plain containers only, so no pickled code can run."""
    source = Path(path)
    if not source.is_file():
        raise CheckpointError(f"checkpoint not found: {source}")
    try:
        return torch.load(source, map_location=map_location, weights_only=True)
    except Exception as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        # torch's message buries what it refused ("Unsupported global: GLOBAL posix.system") mid-text.
        first_line = next((line for line in lines if "Unsupported" in line), lines[0] if lines else "")
        first_line = first_line.removeprefix("WeightsUnpickler error: ")
        raise CheckpointError(
            f"refusing to load {source}: not a weights-only checkpoint (pickled code, or a truncated or "
            f"foreign file): {type(error).__name__}: {first_line}"
        ) from error


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(
        OSError
    ):  # some filesystems cannot fsync a directory; the data is synced already
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
