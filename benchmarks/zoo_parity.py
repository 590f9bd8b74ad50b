"""The model zoo against torchvision: parameters, MACs and logits, one row per shared model.

For every model torchvision also has (`lwcnn.models.TORCHVISION_NAMES`): our parameter count against torchvision's, our
`lwcnn.models.cost` MACs against torch's `FlopCounterMode` / 2 on torchvision's module, and the
largest logit difference after `load_torchvision_weights` (eval mode, one 1x3x224x224 random
input; BatchNorm statistics and the linear layers randomised first so that a misplaced layer
would show). Runs in about a minute on 2 CPU cores.

    .venv/bin/python benchmarks/zoo_parity.py

The last line reads `zoo_parity=<models with all three equal>/<models>`.
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


def main() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    header = f"{'model':20s} {'params':>10s} {'torchvision':>11s} {'cost() MACs':>13s} {'torch MACs':>13s} {'max |logit diff|':>17s}"
    print(header)
    equal = 0
    for name in NAMES:
        reference = randomised(getattr(torchvision.models, name)(weights=None))
        reference_macs, reference_logits = torch_macs(reference, x)
        ours = models.load_torchvision_weights(models.build(name), reference).eval()
        with torch.no_grad():
            difference = (ours(x) - reference_logits).abs().max().item()
        params = sum(p.numel() for p in ours.parameters())
        reference_params = sum(p.numel() for p in reference.parameters())
        predicted = models.cost(name, 224).macs
        same = params == reference_params and predicted == reference_macs and difference <= TOLERANCE
        equal += same
        print(
            f"{name:20s} {params:10,d} {reference_params:11,d} {predicted:13,d} {reference_macs:13,d} "
            f"{difference:17.2e}{'' if same else '  DIFFERENT'}"
        )
    print(f"params and MACs exactly equal, logits within {TOLERANCE:g}, for {equal} of {len(NAMES)} models")
    print(f"zoo_parity={equal}/{len(NAMES)}")


if __name__ == "__main__":
    main()
