"""How thop counts: `thop.profile(model, inputs=(x,))`, rule by rule (thop 0.1.1.post2209072238).

thop hooks modules, looked up by exact type in profile.register_hooks, and reports "ops": one
multiply-add counts one (MACs). It never sees functional ops (`F.hardswish`, a residual `+`),
so on MobileNetV2 it counts the convs, the classifier and 4 ops per BatchNorm element
(2 per element, x2 for the affine scale and shift), and nothing for ReLU6:

>>> import torchvision
>>> from lwcnn.counting import count_model
>>> report = count_model(torchvision.models.mobilenet_v2(), convention="thop")
>>> report.macs, report.by_category()["norm"]
(327486720, 26712448)

Every formula below is written from thop's basic_hooks.py, rnn_hooks.py and profile.py; the
tests (tests/test_counting.py) check the totals against thop itself.
"""

from __future__ import annotations

from collections import defaultdict

from torch import nn

from lwcnn.counting.recording import ModuleCall, Recording
from lwcnn.counting.rules import Counts, ModuleRule, module_totals, numel, rule_table, zero


def _thop_conv(call: ModuleCall) -> int:
    """thop basic_hooks.count_convNd: `numel(y) * (C_in / groups) * prod(kernel)`, bias ignored."""
    return numel(call.output_shape) * (call.x[1] // call.module.groups) * numel(call.module.weight.shape[2:])


def _thop_norm(call: ModuleCall) -> int:
    """thop count_normalization: 2 per input element, x2 when affine (BN, LN, IN)."""
    affine = getattr(call.module, "affine", False) or getattr(call.module, "elementwise_affine", False)
    return 2 * numel(call.x) * (2 if affine else 1)


def _thop_softmax(call: ModuleCall) -> int:
    """thop count_softmax: `(exp + add + div) = 3n - 1` per softmax of n features."""
    if call.module.dim is None:
        return 0  # thop itself fails on Softmax(dim=None)
    features = call.x[call.module.dim]
    return numel(call.x) // features * (3 * features - 1)


def _thop_adaptive_avgpool(call: ModuleCall) -> int:
    """thop count_adap_avgpool: `(prod(in/out) + 1) * numel(y)`, in float64 then truncated."""
    kernel = 1.0
    for size_in, size_out in zip(call.x[2:], call.output_shape[2:], strict=False):
        kernel *= size_in / size_out
    return int((kernel + 1) * numel(call.output_shape))


_THOP_UPSAMPLE_OPS_PER_OUTPUT = {"nearest": 1, "linear": 5, "bilinear": 11, "bicubic": 259}


def _thop_upsample(call: ModuleCall) -> int:
    """thop count_upsample: per output element 1 (nearest), 5, 11, 259 (bicubic); other modes 0."""
    return _THOP_UPSAMPLE_OPS_PER_OUTPUT.get(call.module.mode, 0) * numel(call.output_shape)


def _thop_rnn_cell_ops(kind: str, input_size: int, hidden_size: int, bias: bool) -> int:
    """thop rnn_hooks: one step of an RNN/GRU/LSTM cell for one sample (matmuls + gates)."""
    state = (input_size + hidden_size) * hidden_size + hidden_size + (2 * hidden_size if bias else 0)
    if kind == "RNN":
        return state
    if kind == "GRU":  # r, z and n gates, the r hadamard, and h' = (1 - z) * n + z * h
        return 3 * state + 4 * hidden_size
    return 4 * state + 4 * hidden_size  # LSTM: i, f, o, g gates, c' = f*c + i*g, h' = o*tanh(c')


def _thop_rnn(call: ModuleCall) -> int:
    """thop count_rnn/gru/lstm: cell ops for every layer (and direction), x steps x batch."""
    m = call.module
    kind = type(m).__name__
    batch, steps = (call.x[0], call.x[1]) if m.batch_first else (call.x[1], call.x[0])
    directions = 2 if m.bidirectional else 1
    ops = _thop_rnn_cell_ops(kind, m.input_size, m.hidden_size, m.bias) * directions
    for _ in range(m.num_layers - 1):
        ops += _thop_rnn_cell_ops(kind, m.hidden_size * directions, m.hidden_size, m.bias) * directions
    return ops * steps * batch


def _thop_rnn_cell(call: ModuleCall) -> int:
    """thop count_rnn_cell/gru_cell/lstm_cell: one step per sample."""
    m = call.module
    kind = type(m).__name__.removesuffix("Cell")
    return _thop_rnn_cell_ops(kind, m.input_size, m.hidden_size, m.bias) * call.x[0]


# thop profile.register_hooks: looked up by exact type, so subclasses get no rule.
THOP_RULES: dict[type, ModuleRule] = {
    **rule_table("conv", _thop_conv, nn.Conv1d, nn.Conv2d, nn.Conv3d),
    **rule_table("conv", _thop_conv, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d),
    **rule_table(
        "norm", _thop_norm, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.LayerNorm
    ),
    **rule_table("norm", _thop_norm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d),
    # count_prelu: one per element, only in eval mode (thop always profiles in eval mode)
    **rule_table("activation", lambda call: numel(call.x), nn.PReLU),
    **rule_table("activation", _thop_softmax, nn.Softmax),
    # ReLU/ReLU6 zero_ops; LeakyReLU count_relu, which also returns 0
    **rule_table("activation", zero, nn.ReLU, nn.ReLU6, nn.LeakyReLU),
    **rule_table("pooling", zero, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d),
    **rule_table("pooling", zero, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d),
    # count_avgpool: one per output element
    **rule_table("pooling", lambda call: numel(call.output_shape), nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d),
    **rule_table(
        "pooling", _thop_adaptive_avgpool, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d
    ),
    # count_linear: in_features per output element
    **rule_table("linear", lambda call: call.module.in_features * numel(call.output_shape), nn.Linear),
    **rule_table("other", _thop_upsample, nn.Upsample, nn.UpsamplingBilinear2d, nn.UpsamplingNearest2d),
    **rule_table("other", _thop_rnn_cell, nn.RNNCell, nn.GRUCell, nn.LSTMCell),
    **rule_table("other", _thop_rnn, nn.RNN, nn.GRU, nn.LSTM),
    **rule_table("other", zero, nn.ZeroPad2d, nn.Dropout, nn.PixelShuffle, nn.Sequential),
}


def thop_counts(recording: Recording) -> tuple[Counts, int, dict[int, int]]:
    """thop profile: per-module hooks only, summed by profile.dfs_count.

    dfs_count walks named_children from the model: a child with a rule (other than Sequential)
    adds its ops and its parameters, the others are walked into. So functional ops and modules
    without a rule (Hardswish, Hardsigmoid, SiLU, GroupNorm) cost 0 and lose their parameters;
    a module called twice adds its ops twice; the model's own parameters are never counted.
    Returns the counts, the parameter total and id(module) -> the parameters thop gave it.
    """
    totals = module_totals(recording, THOP_RULES.get)
    called = {id(call.module) for call in recording.module_calls}
    # profile registers its hooks through model.apply, which reaches a module shared by several
    # parents once per parent: each registration adds the module's ops again.
    registrations: dict[int, int] = defaultdict(int)

    def count_registrations(module: nn.Module) -> None:
        registrations[id(module)] += 1
        for child in module.children():
            count_registrations(child)

    count_registrations(recording.model)
    counts: Counts = []
    params_by_module: dict[int, int] = defaultdict(int)

    def add(module: nn.Module, count_params: bool) -> None:
        category, ops = totals.get(id(module), ("other", 0))
        counts.append((recording.module_names[id(module)], category, ops * registrations[id(module)]))
        if count_params and id(module) in called:  # count_parameters runs in the forward hook
            params_by_module[id(module)] += sum(p.numel() for p in module.parameters())

    def visit(module: nn.Module) -> None:
        for child in module.children():
            if type(child) in THOP_RULES and not isinstance(child, (nn.Sequential, nn.ModuleList)):
                add(child, count_params=True)
            else:
                visit(child)

    if type(recording.model) in THOP_RULES:
        add(recording.model, count_params=False)
    visit(recording.model)
    return counts, sum(params_by_module.values()), params_by_module
