"""The model zoo against torchvision and timm: parameters, MACs and logits, one row per shared model.

For every model torchvision also has (`lwcnn.models.TORCHVISION_NAMES`): our parameter count against torchvision's, our
`lwcnn.models.cost` MACs against torch's `FlopCounterMode` / 2 on torchvision's module, and the
largest logit difference after `load_torchvision_weights` (eval mode, one 1x3x224x224 random
input; BatchNorm statistics and the linear layers randomised first so that a misplaced layer
would show). Then the same for every model timm also has (`lwcnn.models.TIMM_NAMES`), built by
timm with random weights (no download) and loaded with `load_timm_weights`, at each network's own
input size (`lwcnn.models.cost(name).input_size`: 384 for EfficientNetV2-S, 106-192 for the
TinyNets). Runs in under a minute on 2 CPU cores.

    .venv/bin/python benchmarks/zoo_parity.py

It prints `zoo_parity=<torchvision models with all three equal>/<models>` after the first
table, and its last line reads `timm_parity=<timm models with all three equal>/<models>`.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lwcnn import models

NAMES = models.TORCHVISION_NAMES
TOLERANCE = 1e-5


def randomised(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine terms, and default-scale linear layers."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                for tensor, low, high in (
                    (module.running_mean, -0.1, 0.1),
                    (module.running_var, 0.5, 1.5),
                    (module.weight, 0.5, 1.5),
                    (module.bias, -0.1, 0.1),
                ):
                    tensor.copy_(torch.rand(tensor.shape, generator=generator) * (high - low) + low)
            elif isinstance(module, nn.Linear):
                bound = module.in_features**-0.5
                module.weight.uniform_(-bound, bound, generator=generator)
                module.bias.uniform_(-bound, bound, generator=generator)
    return model.eval()


def torch_macs(model: nn.Module, x: torch.Tensor) -> tuple[int, torch.Tensor]:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        out = model(x)
    return counter.get_total_flops() // 2, out


def compare(name: str, reference: nn.Module, size: tuple[int, int], load) -> tuple[str, bool]:
    """One row: our network against `reference` (randomised here) at `size`, after `load` copied
    its weights into ours; and whether params, MACs and logits all agree."""
    x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(1))
    reference = randomised(reference)
    reference_macs, reference_logits = torch_macs(reference, x)
    ours = load(models.build(name), reference).eval()
    with torch.no_grad():
        difference = (ours(x) - reference_logits).abs().max().item()
    params = sum(p.numel() for p in ours.parameters())
    reference_params = sum(p.numel() for p in reference.parameters())
    predicted = models.cost(name, size).macs
    same = params == reference_params and predicted == reference_macs and difference <= TOLERANCE
    row = (
        f"{size[0]:4d} {params:10,d} {reference_params:10,d} {predicted:14,d} {reference_macs:14,d} "
        f"{difference:17.2e}{'' if same else '  DIFFERENT'}"
    )
    return row, same


HEADER = f"{'size':>4s} {'params':>10s} {'theirs':>10s} {'cost() MACs':>14s} {'their MACs':>14s} {'max |logit diff|':>17s}"


def main() -> None:
    torch.manual_seed(0)
    print(f"{'torchvision model':20s} {HEADER}")
    equal = 0
    for name in NAMES:
        reference = getattr(torchvision.models, name)(weights=None)
        row, same = compare(name, reference, (224, 224), models.load_torchvision_weights)
        equal += same
        print(f"{name:20s} {row}")
    print(f"params and MACs exactly equal, logits within {TOLERANCE:g}, for {equal} of {len(NAMES)} models")
    print(f"zoo_parity={equal}/{len(NAMES)}")
    print()
    timm_section()


def timm_section() -> None:
    """Every network timm also builds, at the network's own input size."""
    import timm

    print(f"{'model':20s} {'timm model':22s} {HEADER}")
    equal = 0
    for name, (timm_name, timm_options) in models.TIMM_NAMES.items():
        reference = timm.create_model(timm_name, **timm_options)
        row, same = compare(name, reference, models.cost(name).input_size, models.load_timm_weights)
        equal += same
        print(f"{name:20s} {timm_name:22s} {row}")
    total = len(models.TIMM_NAMES)
    print(f"params and MACs exactly equal, logits within {TOLERANCE:g}, for {equal} of {total} timm models")
    print(f"timm_parity={equal}/{total}")


if __name__ == "__main__":
    main()
