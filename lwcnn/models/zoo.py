"""The networks by name: `spec(name, **options)`, `build`, `cost`, the names and their options,
and copying torchvision's or timm's weights into a network `build` made."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from lwcnn.cost import Size
from lwcnn.models.efficientnet import (
    EFFICIENTNET_SCALING,
    TINYNET_SCALING,
    EfficientNet,
    TinyNet,
    tinynet_resolution,
)
from lwcnn.models.efficientnet_v2 import EFFICIENTNET_V2_VARIANTS, EfficientNetV2
from lwcnn.models.espnet import ESPNetC, ESPNetV2
from lwcnn.models.fbnet import FBNet
from lwcnn.models.ghostnet import GhostNet, GhostNetV2
from lwcnn.models.mnasnet import MnasNet
from lwcnn.models.mobilenet_v1 import MobileNetV1
from lwcnn.models.mobilenet_v2 import MobileNetV2
from lwcnn.models.mobilenet_v3 import MobileNetV3
from lwcnn.models.network import NetworkCost, NetworkSpec
from lwcnn.models.shufflenet_v1 import SHUFFLENET_V1_CHANNELS, ShuffleNetV1
from lwcnn.models.shufflenet_v2 import SHUFFLENET_V2_CHANNELS, ShuffleNetV2
from lwcnn.models.squeezenet import SqueezeNet

NETWORK_SPECS = (
    MobileNetV1,
    MobileNetV2,
    MobileNetV3,
    MnasNet,
    ShuffleNetV2,
    GhostNet,
    GhostNetV2,
    EfficientNet,
    SqueezeNet,
    EfficientNetV2,
    TinyNet,
    FBNet,
    ShuffleNetV1,
    ESPNetV2,
    ESPNetC,
)

# name -> (spec class, fields the name fixes, defaults the name sets but options may change)
_PRESETS: dict[str, tuple[type[NetworkSpec], dict[str, Any], dict[str, Any]]] = {
    "mobilenet_v1": (MobileNetV1, {}, {}),
    "mobilenet_v2": (MobileNetV2, {}, {}),
    "mobilenet_v3_large": (MobileNetV3, {"variant": "large"}, {}),
    "mobilenet_v3_small": (MobileNetV3, {"variant": "small"}, {}),
    "mnasnet": (MnasNet, {"variant": "b1"}, {}),
    **{
        f"mnasnet{name}": (MnasNet, {"variant": "b1", "width_multiplier": width}, {})
        for name, width in (("0_5", 0.5), ("0_75", 0.75), ("1_0", 1.0), ("1_3", 1.3))
    },
    "mnasnet_a1": (MnasNet, {"variant": "a1", "width_multiplier": 1.0}, {}),
    **{
        f"shufflenet_v2_x{str(width).replace('.', '_')}": (ShuffleNetV2, {"width_multiplier": width}, {})
        for width in SHUFFLENET_V2_CHANNELS
    },
    "ghostnet": (GhostNet, {}, {}),
    "ghostnet_1_0": (GhostNet, {"width_multiplier": 1.0}, {}),
    **{
        f"ghostnetv2_{str(width).replace('.', '_')}": (GhostNetV2, {"width_multiplier": width}, {})
        for width in (1.0, 1.3, 1.6)
    },
    "efficientnet": (EfficientNet, {}, {}),
    **{
        f"efficientnet_{phi}": (
            EfficientNet,
            {"width_multiplier": width, "depth_multiplier": depth},
            {"resolution": resolution, "dropout": dropout},
        )
        for phi, (width, depth, resolution, dropout) in EFFICIENTNET_SCALING.items()
    },
    **{
        f"efficientnetv2_{variant}": (EfficientNetV2, {"variant": variant}, {})
        for variant in EFFICIENTNET_V2_VARIANTS
    },
    **{
        f"tinynet_{letter}": (
            TinyNet,
            {"width_multiplier": width, "depth_multiplier": depth},
            {"resolution": tinynet_resolution(resolution)},
        )
        for letter, (resolution, width, depth) in TINYNET_SCALING.items()
    },
    "fbnet_c": (FBNet, {}, {}),
    "squeezenet1_0": (SqueezeNet, {"version": "1_0"}, {}),
    "squeezenet1_1": (SqueezeNet, {"version": "1_1"}, {}),
    **{f"shufflenet_v1_g{g}": (ShuffleNetV1, {"groups": g}, {}) for g in SHUFFLENET_V1_CHANNELS},
    "espnetv2": (ESPNetV2, {}, {}),
    "espnet_c": (ESPNetC, {}, {}),
}

MODEL_NAMES: tuple[str, ...] = tuple(_PRESETS)

# the names torchvision.models also builds, with the same architecture (tests and
# benchmarks/zoo_parity.py compare them)
TORCHVISION_NAMES: tuple[str, ...] = (
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    *(f"mnasnet{w}" for w in ("0_5", "0_75", "1_0", "1_3")),
    *(f"shufflenet_v2_x{w}" for w in ("0_5", "1_0", "1_5", "2_0")),
    *(f"efficientnet_b{phi}" for phi in range(4)),
    "squeezenet1_0",
    "squeezenet1_1",
)


# the names timm also builds, with the same architecture: our name -> (timm's name, the options
# timm's model is made with). timm builds the MobileNetV3s with BatchNorm eps 1e-5 where ours keep
# torchvision's 1e-3; the EfficientNetV2-B models are timm's `tf_` ports, whose TensorFlow "same"
# padding (one pixel more on the right and bottom at stride 2) becomes PyTorch's symmetric padding
# with `pad_type=""`; MobileNetV1 is timm's with ReLU (timm's default is ReLU6, the paper's ReLU).
TIMM_NAMES: dict[str, tuple[str, dict[str, Any]]] = {
    "mobilenet_v1": ("mobilenetv1_100", {"act_layer": "relu"}),
    "mobilenet_v2": ("mobilenetv2_100", {}),
    "mobilenet_v3_large": ("mobilenetv3_large_100", {"bn_eps": 1e-3}),
    "mobilenet_v3_small": ("mobilenetv3_small_100", {"bn_eps": 1e-3}),
    "mnasnet0_5": ("mnasnet_050", {}),
    "mnasnet1_0": ("mnasnet_100", {}),
    "mnasnet_a1": ("semnasnet_100", {}),
    **{f"efficientnet_b{phi}": (f"efficientnet_b{phi}", {}) for phi in range(4)},
    "ghostnet_1_0": ("ghostnet_100", {}),
    "ghostnetv2_1_0": ("ghostnetv2_100", {}),
    "ghostnetv2_1_3": ("ghostnetv2_130", {}),
    "ghostnetv2_1_6": ("ghostnetv2_160", {}),
    **{
        f"efficientnetv2_b{phi}": (f"tf_efficientnetv2_b{phi}", {"pad_type": "", "bn_eps": 1e-5})
        for phi in range(4)
    },
    "efficientnetv2_s": ("efficientnetv2_s", {}),
    **{f"tinynet_{letter}": (f"tinynet_{letter}", {}) for letter in TINYNET_SCALING},
    "fbnet_c": ("fbnetc_100", {}),
}


def _preset(name: Any) -> tuple[type[NetworkSpec], dict[str, Any], dict[str, Any]]:
    if not isinstance(name, str) or name not in _PRESETS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}")
    return _PRESETS[name]


# name -> the options `spec(name, ...)` accepts: the spec's fields that the name does not fix
_OPTIONS: dict[str, tuple[str, ...]] = {
    name: tuple(f.name for f in dataclasses.fields(spec_class) if f.name not in fixed)
    for name, (spec_class, fixed, _) in _PRESETS.items()
}


def options(name: str) -> tuple[str, ...]:
    """The options `spec(name, ...)` accepts: the spec's fields that the name does not fix.

    >>> options("mobilenet_v2")
    ('width_multiplier', 'resolution', 'num_classes', 'in_channels', 'small_input', 'dropout', 'divisor', 'table')
    """
    _preset(name)
    return _OPTIONS[name]


def spec(name: str, **options_: Any) -> NetworkSpec:
    """The spec of a network by name; `options_` set its other fields.

    >>> spec("mobilenet_v1", width_multiplier=0.5)
    MobileNetV1(width_multiplier=0.5, resolution=None, num_classes=1000, in_channels=3, small_input=False, stem_channels=32)
    """
    spec_class, fixed, defaults = _preset(name)
    allowed = _OPTIONS[name]
    unknown = options_.keys() - allowed
    if unknown:
        raise ValueError(
            f"{name}: unknown option(s) {', '.join(sorted(unknown))}; valid options: {', '.join(allowed)}"
        )
    return spec_class(**fixed, **defaults, **options_)


def _resolve(name_or_spec: str | NetworkSpec, options_: dict[str, Any]) -> NetworkSpec:
    if isinstance(name_or_spec, NetworkSpec):
        if not options_:
            return name_or_spec
        allowed = tuple(f.name for f in dataclasses.fields(name_or_spec))
        unknown = sorted(set(options_) - set(allowed))
        if unknown:
            raise ValueError(
                f"{type(name_or_spec).__name__}: unknown option(s) {', '.join(unknown)}; "
                f"valid options: {', '.join(allowed)}"
            )
        return dataclasses.replace(name_or_spec, **options_)
    return spec(name_or_spec, **options_)


def build(name_or_spec: str | NetworkSpec, num_classes: int | None = None, **options_: Any) -> nn.Sequential:
    """Build a network by name or from a spec (num_classes: 1000 for a name, else the spec's).

    >>> model = build("efficientnet_b0")
    >>> sum(p.numel() for p in model.parameters())   # torchvision's efficientnet_b0
    5288548
    """
    if num_classes is not None:
        options_["num_classes"] = num_classes
    return _resolve(name_or_spec, options_).build()


def cost(name_or_spec: str | NetworkSpec, resolution: Size | None = None, **options_: Any) -> NetworkCost:
    """Params and conv+linear MACs per stage and in total, without building a module.

    `resolution` defaults to the spec's (224; 240/260/300 for EfficientNet-B1..B3; 32 with
    `small_input=True`). Pure integer arithmetic on the layers' arguments (`NetworkSpec.cost`), cached.

    >>> result = cost("mobilenet_v3_large")
    >>> result.params, result.macs                  # torchvision's, FlopCounterMode / 2
    (5483032, 216589760)
    """
    return _resolve(name_or_spec, options_).cost(resolution)


def load_torchvision_weights(model: nn.Module, tv_model: nn.Module) -> nn.Module:
    """Copy `tv_model`'s parameters and buffers into `model`, matched by order, and return `model`.

    Both `state_dict()`s must list the same number of entries, pairwise of the same shape and
    the same kind (the name's last part: weight, bias, running_mean, ...); otherwise a
    ValueError names the first pair that does not line up.

    >>> import torchvision
    >>> model = load_torchvision_weights(build("mobilenet_v2"), torchvision.models.mobilenet_v2())
    """
    return _load_by_order(model, tv_model, "torchvision")


def load_timm_weights(model: nn.Module, timm_model: nn.Module) -> nn.Module:
    """Copy `timm_model`'s parameters and buffers into `model`, matched by order, and return `model`.

    As `load_torchvision_weights`, except that a 1x1 conv weight (out, in, 1, 1) of timm's may
    fill a linear layer's weight (out, in) of ours: timm's MobileNetV3 and GhostNet apply the
    layer after global pooling as a 1x1 conv with bias (`conv_head`).

    >>> import timm
    >>> model = load_timm_weights(build("ghostnetv2_1_0"), timm.create_model("ghostnetv2_100"))
    """
    return _load_by_order(model, timm_model, "timm")


def _lines_up(kind: str, tensor: torch.Tensor, ref_kind: str, ref_tensor: torch.Tensor) -> bool:
    """The same kind and shape, or a 1x1 conv weight for a linear weight (`load_timm_weights`)."""
    if kind != ref_kind:
        return False
    if tensor.shape == ref_tensor.shape:
        return True
    return kind == "weight" and tensor.dim() == 2 and ref_tensor.shape == (*tensor.shape, 1, 1)


def _load_by_order(model: nn.Module, reference: nn.Module, source: str) -> nn.Module:
    """Copy `reference`'s state dict into `model`'s, entry by entry in order (`source` names it)."""
    ours, theirs = list(model.state_dict().items()), list(reference.state_dict().items())
    for index, ((name, tensor), (ref_name, ref_tensor)) in enumerate(zip(ours, theirs, strict=False)):
        kind, ref_kind = name.rsplit(".", 1)[-1], ref_name.rsplit(".", 1)[-1]
        if not _lines_up(kind, tensor, ref_kind, ref_tensor):
            raise ValueError(
                f"entry {index} does not line up: ours {name} {tuple(tensor.shape)} vs "
                f"{source} {ref_name} {tuple(ref_tensor.shape)}; is it the same architecture and options?"
            )
    if len(ours) != len(theirs):
        raise ValueError(
            f"ours has {len(ours)} parameters and buffers, {source} {len(theirs)}; "
            "the first {} line up: is it the same architecture and options?".format(
                min(len(ours), len(theirs))
            )
        )
    with torch.no_grad():
        for (_, tensor), (_, ref_tensor) in zip(ours, theirs, strict=True):
            tensor.copy_(ref_tensor.reshape(tensor.shape))
    return model
