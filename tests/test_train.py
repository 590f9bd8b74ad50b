"""Tests of lwcnn.train and of the training models lwcnn.models.SmallMobileNet and SmallMBConvNet."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import counted_macs, counted_params
from torch import nn

from lwcnn.blocks import ACTIVATIONS
from lwcnn.data import digits_loaders
from lwcnn.models import SmallMBConvNet, SmallMobileNet, small_mobilenet, small_mobilenet_cost
from lwcnn.train import EpochRecord, History, evaluate, set_seed, train

# The acceptance recipe; benchmarks/train_digits.py trains with the same numbers.
DIGITS_EPOCHS, DIGITS_BATCH_SIZE, DIGITS_LR = 4, 32, 1e-2


@pytest.fixture(scope="module", autouse=True)
def one_cpu_thread():
    """Train on one thread here: these models are so small that a second OpenMP thread barely
    helps, and on a shared 2-core machine it makes each tiny op wait for a descheduled thread
    (an epoch went from 0.5 s to 20 s under load). Restored afterwards for other test modules."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained_digits(one_cpu_thread):
    """small_mobilenet(conv="separable") trained once on 32x32 digits, shared by the tests below."""
    loaders = digits_loaders(batch_size=DIGITS_BATCH_SIZE, image_size=32)
    set_seed(0)
    model = small_mobilenet(conv="separable")
    history = train(model, loaders, epochs=DIGITS_EPOCHS, lr=DIGITS_LR, progress=False)
    return model, loaders, history


def tiny_setup(seed: int = 0):
    """A fast model on 8x8 digits, for tests about the loop rather than about accuracy."""
    loaders = digits_loaders(batch_size=128, image_size=None)
    set_seed(seed)
    model = small_mobilenet(stem_channels=8, stages=((16, 2), (32, 2)))
    return model, loaders


def without_seconds(history: History) -> list[tuple]:
    return [
        (row.epoch, row.train_loss, row.train_accuracy, row.test_loss, row.test_accuracy, row.extra_loss)
        for row in history.rows
    ]


def mean_abs_bn_weight(model: nn.Module) -> float:
    gammas = torch.cat(
        [m.weight.detach().abs().flatten() for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    )
    return gammas.mean().item()


# --- acceptance ---------------------------------------------------------------------------------


def test_separable_small_mobilenet_reaches_95_percent_on_digits(trained_digits):
    _, _, history = trained_digits
    assert len(history) == DIGITS_EPOCHS
    assert history.final_test_accuracy >= 0.95
    assert history.rows[-1].train_loss < history.rows[0].train_loss


def test_evaluate_agrees_with_the_last_history_row(trained_digits):
    model, (_, test_loader), history = trained_digits
    model.train()
    test_loss, test_accuracy = evaluate(model, test_loader)
    assert model.training  # evaluate puts the model back in the mode it found it in
    assert test_accuracy == history.final_test_accuracy
    assert test_loss == pytest.approx(history.final_test_loss, rel=1e-6)


# --- evaluate -----------------------------------------------------------------------------------


def test_evaluate_computes_mean_cross_entropy_and_accuracy():
    # With nn.Identity the "images" are the logits, so the answer is known exactly.
    logits = torch.tensor([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0], [1.0, 2.0]])
    labels = torch.tensor([0, 1, 1, 1])
    loader = [(logits[:2], labels[:2]), (logits[2:], labels[2:])]
    loss, accuracy = evaluate(nn.Identity(), loader)
    assert accuracy == 0.75
    assert loss == pytest.approx(F.cross_entropy(logits, labels).item())


def test_evaluate_untrained_model_is_near_chance():
    model, (_, test_loader) = tiny_setup()
    loss, accuracy = evaluate(model, test_loader)
    assert 0.0 <= accuracy <= 0.4
    assert math.isfinite(loss) and loss > 1.0


def test_evaluate_rejects_an_empty_loader():
    with pytest.raises(ValueError, match="empty"):
        evaluate(nn.Identity(), [])


# --- seeding and the loop -----------------------------------------------------------------------


def test_same_call_twice_gives_the_same_history_and_weights():
    histories, weights = [], []
    for _ in range(2):
        model, loaders = tiny_setup(seed=0)
        histories.append(train(model, loaders, epochs=2, progress=False))
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert without_seconds(histories[0]) == without_seconds(histories[1])
    assert torch.equal(weights[0], weights[1])


def test_train_reseeds_the_loader_it_is_given():
    # Same loaders object, same starting weights: the shuffle restarts from `seed` each call.
    model, loaders = tiny_setup(seed=0)
    initial = {name: value.clone() for name, value in model.state_dict().items()}
    first = train(model, loaders, epochs=1, progress=False)
    model.load_state_dict(initial)
    again = train(model, loaders, epochs=1, progress=False)
    model.load_state_dict(initial)
    other_seed = train(model, loaders, epochs=1, seed=1, progress=False)
    assert without_seconds(first) == without_seconds(again)
    assert without_seconds(first) != without_seconds(other_seed)


def test_history_rows_and_views():
    model, loaders = tiny_setup()
    history = train(model, loaders, epochs=2, optimizer="sgd", lr=0.1, scheduler="onecycle", progress=False)
    assert [row.epoch for row in history.rows] == [1, 2]
    columns = history.as_dict()
    assert set(columns) == set(EpochRecord.__dataclass_fields__)
    assert columns["test_accuracy"] == [row.test_accuracy for row in history.rows]
    assert history.as_records()[0]["epoch"] == 1
    assert history.final_test_accuracy == history.rows[-1].test_accuracy
    assert history.best_test_accuracy == max(columns["test_accuracy"])
    assert history.total_seconds == pytest.approx(sum(columns["seconds"]))
    for row in history.rows:
        assert 0.0 <= row.train_accuracy <= 1.0 and 0.0 <= row.test_accuracy <= 1.0
        assert row.extra_loss == 0.0 and row.seconds > 0
    with pytest.raises(ValueError, match="empty"):
        _ = History().final_test_accuracy


def test_extra_loss_is_added_to_every_step():
    # Network slimming's penalty lambda * sum|gamma| (Liu et al. 2017), made huge: it dominates
    # the cross-entropy and drives the batch-norm scales from 1 towards 0.
    def l1_on_bn_weights(model: nn.Module) -> torch.Tensor:
        return 0.5 * sum(m.weight.abs().sum() for m in model.modules() if isinstance(m, nn.BatchNorm2d))

    plain, loaders = tiny_setup()
    train(plain, loaders, epochs=2, optimizer="sgd", lr=0.1, progress=False)
    penalised, loaders = tiny_setup()
    history = train(
        penalised, loaders, epochs=2, optimizer="sgd", lr=0.1, extra_loss=l1_on_bn_weights, progress=False
    )
    assert mean_abs_bn_weight(plain) > 0.5
    assert mean_abs_bn_weight(penalised) < 0.05
    assert history.rows[0].extra_loss > history.rows[-1].extra_loss > 0


def test_progress_bars_run(capsys):
    model, loaders = tiny_setup()
    train(model, loaders, epochs=1, progress=True)
    assert "epoch" in capsys.readouterr().err


# --- argument checks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": 0.0}, "lr"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"optimizer": "rmsprop"}, r"optimizer must be one of \('adam', 'adamw', 'sgd'\)"),
        ({"scheduler": "step"}, "scheduler must be one of"),
        ({"device": "tpu"}, "device.*'cpu', 'cuda'"),
        ({"device": 3.5}, "device.*'cpu'"),
        ({"seed": -1}, "seed"),
    ],
)
def test_train_rejects_bad_arguments(arguments, message):
    model, loaders = tiny_setup()
    with pytest.raises(ValueError, match=message):
        train(model, loaders, **{"epochs": 1, "progress": False, **arguments})


@pytest.mark.parametrize("name", ["adamx", "Adam", None])
def test_make_optimizer_names_an_optimizer_it_does_not_know(name):
    """Not a silent SGD for a misspelt name: the caller asked for something else."""
    from lwcnn.train import make_optimizer

    with pytest.raises(ValueError, match=r"optimizer must be one of \('adam', 'adamw', 'sgd'\)"):
        make_optimizer(name, nn.Linear(2, 2).parameters(), 0.1, 0.0, 0.9)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when there is no GPU")
def test_cuda_without_a_gpu_fails_clearly():
    model, loaders = tiny_setup()
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        train(model, loaders, epochs=1, device="cuda", progress=False)
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        evaluate(model, loaders[1], device="cuda")


# --- the model ----------------------------------------------------------------------------------


def count_by_forward_hooks(model: nn.Module, input_size: int, in_channels: int) -> int:
    """Conv and linear multiply-adds measured on a real forward pass, to check the analytical count."""
    macs = 0

    def conv_hook(module: nn.Conv2d, inputs, output):
        nonlocal macs
        kh, kw = module.kernel_size
        macs += output[0].numel() * kh * kw * module.in_channels // module.groups

    def linear_hook(module: nn.Linear, inputs, output):
        nonlocal macs
        macs += module.in_features * module.out_features

    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.register_forward_hook(conv_hook)
        elif isinstance(module, nn.Linear):
            module.register_forward_hook(linear_hook)
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, in_channels, input_size, input_size))
    return macs


@pytest.mark.parametrize("conv", ["separable", "standard"])
@pytest.mark.parametrize(("in_channels", "width_multiplier"), [(1, 1.0), (3, 0.5)])
def test_small_mobilenet_cost_matches_the_built_model(conv, in_channels, width_multiplier):
    model = small_mobilenet(in_channels=in_channels, conv=conv, width_multiplier=width_multiplier)
    cost = small_mobilenet_cost(in_channels=in_channels, conv=conv, width_multiplier=width_multiplier)
    assert model(torch.zeros(2, in_channels, 32, 32)).shape == (2, 10)
    assert cost.params == sum(p.numel() for p in model.parameters())
    assert cost.macs == count_by_forward_hooks(model, 32, in_channels)


def test_separable_is_cheaper_than_standard_at_the_same_widths():
    separable, standard = SmallMobileNet(conv="separable"), SmallMobileNet(conv="standard")
    assert [spec.out_channels for spec in separable.layers()] == [
        spec.out_channels for spec in standard.layers()
    ]
    assert separable.cost(32).macs < standard.cost(32).macs / 5
    assert separable.cost(32).params < standard.cost(32).params / 5


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"conv": "grouped"}, r"conv must be one of \('separable', 'standard'\)"),
        ({"width_multiplier": 0.0}, "width_multiplier"),
        ({"stages": ()}, "stages"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_small_mobilenet_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        small_mobilenet(**arguments)


@given(
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    se=st.booleans(),
    in_channels=st.integers(1, 3),
    num_classes=st.integers(2, 12),
    size=st.integers(8, 40),
)
@settings(max_examples=15, deadline=None)
def test_small_mbconv_net_cost_is_torchs_count(activation, se, in_channels, num_classes, size):
    spec = SmallMBConvNet(activation, se, num_classes=num_classes, in_channels=in_channels)
    model = spec.build()
    macs, out = counted_macs(model, torch.zeros(1, in_channels, size, size))
    assert out.shape == (1, num_classes)
    assert (spec.cost(size).params, spec.cost(size).macs) == (counted_params(model), macs)


def test_small_mbconv_net_puts_the_deep_activation_in_the_last_block_and_the_head_only():
    layers = SmallMBConvNet("relu", deep_activation="hswish").layers()
    assert [layer.activation for layer in layers] == ["relu", "relu", "relu", "hswish", "hswish"]
    assert SmallMBConvNet("hswish").layers() == SmallMBConvNet("hswish", deep_activation="hswish").layers()


def test_small_mbconv_net_squeezes_a_quarter_only_with_se():
    squeezes = [getattr(layer, "squeeze_channels", 0) for layer in SmallMBConvNet(se=True).layers()]
    assert squeezes == [0, 16, 18, 24, 0]
    assert all(getattr(layer, "squeeze_channels", 0) == 0 for layer in SmallMBConvNet(se=False).layers())


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"activation": "gelu"}, ValueError, "activation must be one of"),
        ({"se": 1}, TypeError, "se must be True or False"),
        ({"num_classes": 0}, ValueError, "num_classes"),
        ({"deep_activation": "gelu"}, ValueError, "deep_activation must be one of"),
    ],
)
def test_small_mbconv_net_rejects_bad_arguments(arguments, error, message):
    with pytest.raises(error, match=message):
        SmallMBConvNet(**arguments)


def test_recalibrate_batchnorm_sets_the_statistics_of_the_models_own_inputs():
    from lwcnn.train import recalibrate_batchnorm

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4, momentum=0.3), nn.ReLU(), nn.Flatten())
    model[1].running_mean.fill_(5.0)
    images = torch.randn(96, 1, 6, 6)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(images, torch.zeros(96)), batch_size=32
    )
    with torch.no_grad():
        inputs = model[0](images)  # what the BatchNorm sees: its oracle statistics
    recalibrate_batchnorm(model, loader)
    assert not model.training and model[1].momentum == 0.3
    assert torch.allclose(model[1].running_mean, inputs.mean(dim=(0, 2, 3)), atol=1e-5)
    per_batch_var = torch.stack([inputs[i : i + 32].var(dim=(0, 2, 3)) for i in range(0, 96, 32)])  # unbiased
    assert torch.allclose(model[1].running_var, per_batch_var.mean(dim=0), atol=1e-5)
    kept = model[1].running_mean.clone()
    with pytest.raises(ValueError, match="empty"):
        recalibrate_batchnorm(model, [])
    # refused before anything changed: the statistics and the mode are as they were
    assert torch.equal(model[1].running_mean, kept) and not model.training


# --- inference_copy: BatchNorm folded into the conv before it ---------------------------------


def _randomised_norms(model: nn.Module, seed: int) -> nn.Module:
    """`model` in eval mode with BatchNorm statistics and affine terms far from the defaults."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d | nn.BatchNorm1d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator))
                module.running_var.copy_(torch.rand(n, generator=generator) * 4 + 0.05)
                if module.affine:
                    module.weight.copy_(torch.randn(n, generator=generator))
                    module.bias.copy_(torch.randn(n, generator=generator))
    return model.eval()


@settings(max_examples=25, deadline=None)
@given(
    in_channels=st.integers(1, 12),
    out_factor=st.integers(1, 3),
    kernel_size=st.sampled_from([1, 3, 5]),
    stride=st.sampled_from([1, 2]),
    depthwise=st.booleans(),
    bias=st.booleans(),
    activation=st.sampled_from(["relu", "hswish", "identity"]),
    seed=st.integers(0, 10_000),
)
def test_inference_copy_folds_every_conv_batchnorm_pair_and_keeps_the_function(
    in_channels, out_factor, kernel_size, stride, depthwise, bias, activation, seed
):
    from lwcnn.blocks import ConvBNAct
    from lwcnn.train import inference_copy

    out_channels = in_channels * out_factor
    groups = in_channels if depthwise else 1
    block = ConvBNAct(
        in_channels, out_channels, kernel_size, stride, groups=groups, bias=bias, activation=activation
    )
    torch.manual_seed(seed)
    model = _randomised_norms(
        nn.Sequential(block.build(), nn.Conv2d(out_channels, 2, 1)), seed
    )  # no BN after
    images = torch.randn(3, in_channels, 9, 9, generator=torch.Generator().manual_seed(seed))
    folded = inference_copy(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 1  # `model` untouched
    with torch.no_grad():
        expected, got = model(images), folded(images)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_inference_copy_of_a_network_has_its_logits_and_folds_only_what_follows_a_conv():
    from lwcnn import models
    from lwcnn.train import inference_copy

    torch.manual_seed(0)
    spec = models.spec("mobilenet_v3_small", small_input=True, num_classes=10, in_channels=1)
    model = _randomised_norms(spec.build(), 0)
    folded = inference_copy(model)
    left = [m for m in folded.modules() if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d)]
    kept = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]  # the classifier's: no conv
    assert len(left) == len(kept)
    assert not folded.training and model.training is False
    images = torch.randn(4, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(folded(images), model(images), rtol=1e-4, atol=1e-4)
