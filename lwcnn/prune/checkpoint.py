"""Saving and loading a pruned network with its cfg, loadable with `torch.load(weights_only=True)`."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import torch
from torch import nn

from lwcnn import models
from lwcnn.models import NetworkSpec
from lwcnn.prune.cfg import PrunedSpec
from lwcnn.prune.slimming import spec_of

CHECKPOINT_FORMAT = "lwcnn.pruned/1"


def cfg_to_dict(cfg: NetworkSpec) -> dict[str, Any]:
    """A spec (pruned or not) as plain dicts, lists and numbers: what `torch.load(weights_only=True)`
    reads back. `cfg_from_dict` inverts it."""
    if isinstance(cfg, PrunedSpec):
        return {
            "class": "PrunedSpec",
            "base": cfg_to_dict(cfg.base),
            "widths": [list(pair) for pair in cfg.widths],
        }
    if not isinstance(cfg, NetworkSpec) or not dataclasses.is_dataclass(cfg):
        raise TypeError(f"cfg must be a network spec or a PrunedSpec, got {type(cfg).__name__}")

    def plain(value: Any) -> Any:
        return [plain(item) for item in value] if isinstance(value, tuple | list) else value

    fields = {field.name: plain(getattr(cfg, field.name)) for field in dataclasses.fields(cfg)}
    return {"class": type(cfg).__name__, "fields": fields}


def cfg_from_dict(data: Mapping[str, Any]) -> NetworkSpec:
    """The spec `cfg_to_dict` wrote (its constructor checks every field again)."""
    classes = {spec_class.__name__: spec_class for spec_class in models.NETWORK_SPECS}
    if not isinstance(data, Mapping) or "class" not in data:
        raise ValueError("cfg must be a dict written by cfg_to_dict, with a 'class' entry")
    if data["class"] == "PrunedSpec":
        return PrunedSpec(cfg_from_dict(data["base"]), tuple(tuple(pair) for pair in data["widths"]))
    if data["class"] not in classes:
        raise ValueError(f"cfg class {data['class']!r} is unknown; known: PrunedSpec, {', '.join(classes)}")

    def frozen(value: Any) -> Any:
        return tuple(frozen(item) for item in value) if isinstance(value, list) else value

    try:
        return classes[data["class"]](**{name: frozen(value) for name, value in data["fields"].items()})
    except TypeError as error:
        raise ValueError(f"cfg fields do not fit {data['class']}: {error}") from error


def _check_fits(model: nn.Module, cfg: NetworkSpec, where: str) -> None:
    expected = {key: tuple(value.shape) for key, value in cfg.build().state_dict().items()}
    state = model if isinstance(model, Mapping) else model.state_dict()
    got = {key: tuple(value.shape) for key, value in state.items()}
    if expected.keys() != got.keys():
        extra, missing = sorted(got.keys() - expected.keys()), sorted(expected.keys() - got.keys())
        raise ValueError(
            f"{where} does not fit the cfg: entries the cfg does not build: {extra[:3] or 'none'}; "
            f"entries it lacks: {missing[:3] or 'none'}"
        )
    for key, shape in expected.items():
        if got[key] != shape:
            raise ValueError(
                f"{where} does not fit the cfg: {key} has shape {got[key]}, the cfg builds {shape}"
            )


def save_pruned(
    path: str | os.PathLike | BinaryIO,
    model: nn.Module,
    cfg: NetworkSpec | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    epoch: int | None = None,
    **metadata: Any,
) -> None:
    """Save weights, `cfg`, optimizer state and epoch together in one `.pth` file.

    `cfg` defaults to `model.spec`; the weights must fit it (checked before anything is
    written). `metadata` (numbers, strings, lists, dicts) is stored as is. No pickled classes:
    `load_pruned` reads the file with `torch.load(..., weights_only=True)`.
    """
    cfg = spec_of(model) if cfg is None else cfg
    payload = {
        "format": CHECKPOINT_FORMAT,
        "cfg": cfg_to_dict(cfg),
        "state_dict": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "epoch": epoch,
        "metadata": metadata,
    }
    _check_fits(model, cfg, "model")
    torch.save(payload, path)


@dataclass
class Checkpoint:
    """What `load_pruned` returns: the rebuilt model and what was saved with it."""

    model: nn.Module
    cfg: NetworkSpec
    optimizer_state: dict | None
    epoch: int | None
    metadata: dict


def load_pruned(path: str | os.PathLike | BinaryIO, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the network from the file's `cfg` and load its weights (`weights_only=True`).

    A file that is not an lwcnn checkpoint, or whose weights do not fit its cfg, raises a
    ValueError before any model is returned.
    """
    name = os.fspath(path) if isinstance(path, str | os.PathLike) else "the file"
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{name} is not an lwcnn pruned checkpoint (format {CHECKPOINT_FORMAT!r})")
    cfg = cfg_from_dict(payload["cfg"])
    _check_fits(payload["state_dict"], cfg, f"the weights in {name}")
    model = cfg.build()
    model.load_state_dict(payload["state_dict"])
    return Checkpoint(model, cfg, payload["optimizer"], payload["epoch"], payload["metadata"])


def file_size_bytes(model: nn.Module, path: str | os.PathLike) -> int:
    """The size on disk of `model`'s state_dict saved with `torch.save` to `path`."""
    torch.save(model.state_dict(), path)
    return os.path.getsize(path)
