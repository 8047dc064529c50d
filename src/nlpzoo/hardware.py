"""What a run ran on (CPU model and cores, GPU), recorded in summary.json so results tables can say it."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import lightning as L
import torch


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo), else what `platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def usable_cores() -> int:
    """Cores this process may run on (its affinity), not the host's total."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def describe_hardware(trainer: L.Trainer | None = None) -> dict[str, Any]:
    """CPU, cores, GPU name, and the accelerator and device count the trainer used."""
    accelerator = type(trainer.accelerator).__name__.removesuffix("Accelerator").lower() if trainer else "cpu"
    return {
        "cpu": cpu_model(),
        "cpu_cores": usable_cores(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "accelerator": accelerator,
        "devices": trainer.num_devices if trainer else 1,
        "torch": torch.__version__,
    }


def hardware_label(hardware: dict[str, Any] | None) -> str:
    """One line for a table: the GPU when the run used one, else the CPU with its core count."""
    if not hardware:
        return "unknown"
    devices = hardware.get("devices") or 1
    if hardware.get("accelerator") in {"cuda", "gpu"} and hardware.get("gpu"):
        return f"{devices} x {hardware['gpu']}" if devices > 1 else str(hardware["gpu"])
    return f"{hardware.get('cpu', 'unknown CPU')} ({hardware.get('cpu_cores', '?')} cores)"
