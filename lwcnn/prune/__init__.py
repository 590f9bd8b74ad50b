"""Structured pruning by network slimming, and unstructured pruning for contrast.

Network slimming (Liu et al., "Learning Efficient Convolutional Networks through Network
Slimming", ICCV 2017) in four steps:

1. Train with an L1 penalty on the BatchNorm scale factors, `s * sum|gamma|` (eq. 1):
   `train(..., extra_loss=sparsity_penalty(s))`, or `sparsity_step(model, s)` between
   `backward()` and `optimizer.step()` (the paper's subgradient form). Unneeded channels drift
   to gamma ~ 0, and a channel whose BatchNorm outputs ~0 carries nothing.
2. One global threshold: the `prune_rate` fraction of channels with the smallest |gamma|, over
   the whole network, go (`slim`). Layers that matter keep more channels than layers that do not.
3. `cfg`, the kept channels per prunable layer, describes a physically smaller network:
   `slim` builds it and copies the kept weights into it.
4. Fine-tune it (`lwcnn.train.train`), and prune again if you like.

Channels that cannot be pruned alone are pruned together, as one *channel group*:

- an inverted residual's 1x1 expansion conv, its depthwise conv (which maps channel i to
  channel i), their BatchNorms, and the squeeze-and-excite convs that read and rescale those
  channels: the group is scored by the larger |gamma| of the two BatchNorms;
- channels that meet at a residual add: the projections of every block in a stage with
  shortcuts, and the conv that feeds the stage, are one group (pruned together or not at all);
- the last conv before pooling and the classifier's first linear layer (which loses the columns
  of the removed channels);
- a linear layer's outputs, when a BatchNorm1d follows it (`MobileNetV3(classifier_norm=True)`),
  with the next linear layer's columns; a linear layer without one keeps all its outputs.

A channel is kept when its group's score is above the global threshold; a group never keeps
fewer than `min_channels` (its highest-scoring channels), so no layer is ever emptied. Channels
that the network cannot lose (the input image, the logits) or that no BatchNorm scores are never
pruned.

The pruned network is a spec like any other (`PrunedSpec`): `lwcnn.models.cost(cfg)` gives its
params and MACs without building it, `cfg.build()` builds it, and `save_pruned` stores it beside
its weights so that `load_pruned` can rebuild it with `torch.load(..., weights_only=True)`.

One file per step: `groups.py` (the channel groups, from what each layer declares), `cfg.py`
(the pruned network as a spec), `sparsity.py` (training with the penalty), `slimming.py`
(scores, threshold, the smaller network), `checkpoint.py`, and `unstructured.py` for contrast.
"""

from lwcnn.prune.cfg import PrunedSpec, unpruned_cfg
from lwcnn.prune.checkpoint import (
    CHECKPOINT_FORMAT,
    Checkpoint,
    cfg_from_dict,
    cfg_to_dict,
    file_size_bytes,
    load_pruned,
    save_pruned,
)
from lwcnn.prune.groups import (
    ZERO_PRESERVING,
    ChannelGroup,
    ChannelPlan,
    PlannedLayer,
    channel_groups,
    channel_plan,
    supported_layers,
)
from lwcnn.prune.slimming import (
    SCORE_NORMALIZATIONS,
    SlimResult,
    apply_masks,
    check_prune_rate,
    global_masks,
    group_scores,
    slim,
    spec_of,
    zero_masked,
)
from lwcnn.prune.sparsity import (
    batchnorm_l1,
    batchnorm_scales,
    channel_costs,
    cost_weights,
    sparsity_penalty,
    sparsity_step,
)
from lwcnn.prune.unstructured import magnitude_prune, zero_fraction

__all__ = [
    "ZERO_PRESERVING",
    "ChannelGroup",
    "PlannedLayer",
    "ChannelPlan",
    "supported_layers",
    "channel_plan",
    "channel_groups",
    "PrunedSpec",
    "unpruned_cfg",
    "batchnorm_l1",
    "sparsity_penalty",
    "channel_costs",
    "cost_weights",
    "sparsity_step",
    "batchnorm_scales",
    "SlimResult",
    "spec_of",
    "check_prune_rate",
    "SCORE_NORMALIZATIONS",
    "group_scores",
    "global_masks",
    "slim",
    "apply_masks",
    "zero_masked",
    "magnitude_prune",
    "zero_fraction",
    "CHECKPOINT_FORMAT",
    "cfg_to_dict",
    "cfg_from_dict",
    "save_pruned",
    "Checkpoint",
    "load_pruned",
    "file_size_bytes",
]
