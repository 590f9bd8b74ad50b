"""lwcnn.lut: keys, the CSV round trip, predictions from tables of made-up numbers, clear errors,
and the recorded lesson tables. No assertion looks at a real timing."""

from __future__ import annotations

import dataclasses
import os
import random
import subprocess
import sys

import benchmark_scripts
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lwcnn import lut
from lwcnn.blocks import ConvBNAct, DepthwiseSeparable, InvertedResidual, SqueezeExcite
from lwcnn.models import MODEL_NAMES, MobileNetV2, MobileNetV3, SmallMobileNet, V2Row, V3Row, spec

DEVICE, THREADS = "Test CPU", 1

TINY_V3 = MobileNetV3(
    table=(
        V3Row(3, 16, 16, True, "relu", 1),
        V3Row(5, 48, 24, False, "hswish", 2),
        V3Row(5, 72, 24, True, "hswish", 1),
    ),
    small_input=True,
    num_classes=10,
)
TINY_V2 = MobileNetV2(table=(V2Row(1, 16, 1, 1), V2Row(6, 24, 3, 2)), small_input=True, num_classes=10)

KEY_SPECS = (
    InvertedResidual(16, 24, 96, stride=2),
    InvertedResidual(40, 40, 240, 5, squeeze_channels=64, activation="hswish"),
    ConvBNAct(3, 16, 3, 2, activation=None),
    DepthwiseSeparable(32, 64, 5),
    SqueezeExcite(96, 24, gate="sigmoid"),
    lut.GlobalAvgPool(576),
    lut.Container(),
)


def fake_table(*networks, resolution=32, batch_size=1) -> lut.LatencyTable:
    """Every block of `networks` with made-up latencies (medians alone 0.5 + i/8 ms, in context
    0.75 + i/4 ms; lower quartiles 0.25 ms less)."""
    pairs = dict.fromkeys(p for n in networks for p in lut.network_blocks(n, resolution, batch_size))
    entries = []
    for index, (block, shape) in enumerate(pairs):
        entries.append(
            lut.Entry(
                block=lut.block_key(block),
                input_shape=shape[1:],
                batch=shape[0],
                device=DEVICE,
                threads=THREADS,
                median_ms=0.5 + index / 8,
                p25_ms=0.25 + index / 8,
                iqr_ms=0.01,
                context_median_ms=0.75 + index / 4,
                context_p25_ms=0.5 + index / 4,
                context_iqr_ms=0.02,
                runs=10,
                context_runs=8,
                ops=index,
                weight_bytes=4 * index,
                activation_bytes=8 * index,
                params=index,
                macs=100 * index,
            )
        )
    return lut.LatencyTable(entries, metadata={"note": "made-up numbers"})


# --- keys -----------------------------------------------------------------------------------------


def test_block_key_is_readable_and_lists_only_non_default_fields():
    assert lut.block_key(InvertedResidual(16, 24, 96, stride=2)) == (
        "InvertedResidual(in_channels=16, out_channels=24, expanded_channels=96, stride=2)"
    )
    assert (
        lut.block_key(ConvBNAct(3, 16, activation=None))
        == "ConvBNAct(in_channels=3, out_channels=16, activation=None)"
    )
    assert lut.block_key(lut.Container()) == "Container()"


def test_block_keys_tell_specs_apart_and_match_equal_specs():
    keys = [lut.block_key(s) for s in KEY_SPECS]
    assert len(set(keys)) == len(keys)
    assert all(" at 0x" not in key for key in keys)
    for block in KEY_SPECS:
        assert lut.block_key(dataclasses.replace(block)) == lut.block_key(block)


def _other_number_type(value):
    """The same number as another type (2.0 for 2, 1 for 1.0 or True), or None."""
    if isinstance(value, bool) or type(value) is float and value.is_integer():
        return int(value)
    return float(value) if type(value) is int else None


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_specs_that_compare_equal_share_a_key(name):
    """`Dropout(96, p=0)` equals `Dropout(96, p=0.0)`, and tables are looked up by key: every field
    of every layer of every zoo network, written as the same number of another type, keeps it."""
    for block, _ in lut.network_blocks(spec(name), 64):
        for field in dataclasses.fields(block):
            other = _other_number_type(getattr(block, field.name))
            try:
                twin = dataclasses.replace(block, **{field.name: other})
            except (TypeError, ValueError):  # the spec refuses that type: nothing to key
                continue
            if other is not None and twin == block:
                assert lut.block_key(twin) == lut.block_key(block), (name, field.name)


def test_a_network_predicts_from_a_table_of_an_equal_spec_made_with_other_number_types():
    zero_int, zero_float = (dataclasses.replace(TINY_V2, dropout=p) for p in (0, 0.0))
    assert zero_int == zero_float
    for made, asked in ((zero_int, zero_float), (zero_float, zero_int)):
        assert fake_table(made).predict(asked).latency_ms > 0


def test_block_keys_are_the_same_in_another_process():
    code = (
        "from lwcnn import lut\n"
        "from test_lut import KEY_SPECS\n"
        "print('\\n'.join(lut.block_key(s) for s in KEY_SPECS))\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # tests/ on the path, as pytest puts it for a test module (test_lut imports its neighbours)
    env = {
        **os.environ,
        "PYTHONHASHSEED": "123",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [os.path.join(root, "tests"), os.environ.get("PYTHONPATH")])
        ),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.splitlines() == [lut.block_key(s) for s in KEY_SPECS]


def test_device_slug_is_a_safe_file_name():
    slug = lut.device_slug("cpu")
    assert slug and all(c.isalnum() or c == "-" for c in slug) and slug == slug.lower()
    assert "thread" not in lut.device_label("cpu")


# --- the layers of a network ------------------------------------------------------------------------


@pytest.mark.parametrize("network", [TINY_V3, TINY_V2, spec("mobilenet_v3_small"), SmallMobileNet()])
def test_network_layers_chain_shapes_from_input_to_classes(network):
    resolution = network.input_resolution if hasattr(network, "input_resolution") else 32
    layers = lut.network_layers(network, resolution, batch_size=2)
    assert layers[0].input_shape == (2, network.in_channels, resolution, resolution)
    module = network.build().eval()
    with torch.no_grad():
        out = module(torch.randn(*layers[0].input_shape))
    assert out.shape == (2, network.num_classes)
    for layer in layers:  # every layer runs on the shape recorded for it
        with torch.no_grad():
            layer.spec.build().eval()(torch.randn(*layer.input_shape))
    assert [layer.stage for layer in layers].count("avgpool") == 1


# --- predicting from a table ---------------------------------------------------------------------------


@pytest.mark.parametrize("statistic", lut.STATISTICS)
def test_predict_is_the_sum_of_entries_plus_containers_times_the_scale(statistic):
    table = fake_table(TINY_V3)
    table.calibrations[(DEVICE, THREADS, statistic, None)] = lut.Calibration(scale=1.1, statistic=statistic)
    prediction = table.predict(TINY_V3, statistic=statistic)
    layers = lut.network_layers(TINY_V3, 32)
    entries = [table.lookup(layer.spec, layer.input_shape) for layer in layers]
    container = table.lookup(lut.Container(), (1, 1))
    containers = 3 + len(TINY_V3.stages())
    assert prediction.containers == containers and prediction.statistic == statistic
    assert prediction.plain_ms == pytest.approx(sum(e.alone_ms(statistic) for e in entries))
    expected_context = sum(e.context_ms(statistic) for e in entries) + containers * container.context_ms(
        statistic
    )
    assert prediction.context_ms == pytest.approx(expected_context)
    assert prediction.latency_ms == pytest.approx(1.1 * expected_context)
    assert len(prediction.layers) == len(layers)
    assert sum(prediction.by_stage().values()) == pytest.approx(sum(e.context_ms(statistic) for e in entries))
    assert "predicted" in prediction.table()


def test_the_lower_quartile_is_the_default_and_the_median_a_choice():
    table = fake_table(TINY_V3)
    assert table.predict(TINY_V3).statistic == "p25"
    layers = lut.network_layers(TINY_V3, 32)
    medians = sum(table.lookup(layer.spec, layer.input_shape).median_ms for layer in layers)
    assert table.predict(TINY_V3, statistic="median").plain_ms == pytest.approx(medians)
    by_median = lut.LatencyTable(table.entries, statistic="median")
    assert by_median.predict(TINY_V3).plain_ms == pytest.approx(medians)


def test_repeated_blocks_count_once_per_call():
    table = fake_table(TINY_V2)
    layers = lut.network_layers(TINY_V2, 32)
    keys = [lut.block_key(layer.spec) for layer in layers]
    assert len(set(keys)) < len(keys)  # the last two inverted residuals are the same
    expected = sum(table.lookup(layer.spec, layer.input_shape).p25_ms for layer in layers)
    assert table.predict(TINY_V2).plain_ms == pytest.approx(expected)


def test_calibrate_fits_a_scale_on_measured_networks():
    table = fake_table(TINY_V3, TINY_V2)
    measured = [(n, 1.25 * table.predict(n).context_ms) for n in (TINY_V3, TINY_V2)]
    fit = table.calibrate(measured, fitted_on="two tiny networks")
    assert fit.scale == pytest.approx(1.25) and fit.networks == 2 and fit.mape_percent == pytest.approx(0)
    assert fit.statistic == "p25" and fit.resolution == (32, 32)
    assert table.calibrations[(DEVICE, THREADS, "p25", (32, 32))] == fit
    assert table.predict(TINY_V3).latency_ms == pytest.approx(measured[0][1])
    assert table.predict(TINY_V3, statistic="median").scale == 1.0  # fitted for the lower quartile only


def test_a_missing_entry_names_the_block_and_how_to_measure_it():
    table = fake_table(TINY_V3)
    bigger = dataclasses.replace(TINY_V3, num_classes=100)  # a different last Linear
    with pytest.raises(ValueError, match=r"Linear\(in_features=.*out_features=100\).*measure_blocks"):
        table.predict(bigger)
    assert [lut.block_key(s) for s, _ in table.missing(bigger)] == [lut.block_key(bigger.classifier()[-1])]
    with pytest.raises(ValueError, match=r"at input.*network_blocks\(network, resolution=64\)"):
        table.predict(TINY_V3, resolution=64)
    with pytest.raises(ValueError, match=r"network_blocks\(network, batch_size=4\)"):
        table.predict(TINY_V3, batch_size=4)
    # the advice works: a table of the blocks it names has no block missing
    assert fake_table(TINY_V3, batch_size=4).missing(TINY_V3, batch_size=4) == []
    with pytest.raises(ValueError, match="measure"):
        table.lookup(InvertedResidual(8, 8, 8), (1, 8, 4, 4))


# --- files ------------------------------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path):
    table = fake_table(TINY_V3, TINY_V2)
    table.calibrations[(DEVICE, THREADS, "p25", (32, 32))] = lut.Calibration(
        1.025, "p25", 20, 3.5, "20 networks, seed 1", (32, 32)
    )
    table.calibrations[(DEVICE, THREADS, "p25", (64, 64))] = lut.Calibration(
        0.9, "p25", 20, 3.5, "20 networks, seed 1", (64, 64), share=0.4
    )
    table.calibrations[(DEVICE, THREADS, "median", None)] = lut.Calibration(
        0.98, "median", 20, 4.5, "the same"
    )
    path = table.save(tmp_path / "test.lut.csv")
    text = path.read_text()
    assert text.startswith("# lwcnn latency lookup table")
    assert ",".join(lut.COLUMNS) in text
    loaded = lut.LatencyTable.load(path)
    assert sorted(loaded.entries, key=lambda e: e.key) == sorted(table.entries, key=lambda e: e.key)
    assert loaded.calibrations == table.calibrations
    assert loaded.metadata["note"] == "made-up numbers"
    assert loaded.predict(TINY_V3) == table.predict(TINY_V3)


def test_load_reads_text_only_and_rejects_what_is_not_a_table(tmp_path):
    with pytest.raises(ValueError, match="path"):
        lut.LatencyTable.load(tmp_path / "absent.lut.csv")
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a lwcnn latency table"):
        lut.LatencyTable.load(stranger)
    path = fake_table(TINY_V2).save(tmp_path / "t.lut.csv")
    lines = path.read_text().splitlines()
    lines[-1] = lines[-1].replace(",1,", ",__import__('os'),", 1)
    path.write_text("\n".join(lines))
    with pytest.raises(ValueError, match="bad row"):
        lut.LatencyTable.load(path)


def test_a_table_saves_only_what_it_can_load_back(tmp_path):
    """Each of these saved without a word and then failed to load: the metadata's own "format"
    overwrote the file's, and a line break in a device name split its row."""
    table = fake_table(TINY_V2)
    with pytest.raises(ValueError, match=r"metadata must not set \['format'\]"):
        lut.LatencyTable(list(table.entries), metadata={"format": "fp32"}).save(tmp_path / "a.lut.csv")
    broken = dataclasses.replace(next(iter(table.entries)), device="line\nbreak")
    with pytest.raises(ValueError, match="device must not hold a line break"):
        lut.LatencyTable([broken]).save(tmp_path / "b.lut.csv")
    odd = dataclasses.replace(next(iter(table.entries)), device='a "quoted", tabbed\tname')
    assert lut.LatencyTable.load(lut.LatencyTable([odd]).save(tmp_path / "c.lut.csv")).entries == (odd,)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text.replace('"statistic": "p25"', '"statistic": "mean"'), "t.lut.csv: the meta line's statistic"),
        (lambda text: text.replace('"version": 1', '"version": 99'), "t.lut.csv: format version '99'"),
        (lambda text: text.replace("Test CPU", 'Test\n"CPU', 1), "t.lut.csv"),
    ],
    ids=["statistic", "version", "quote over a line"],
)  # fmt: skip
def test_a_hand_edited_table_names_its_file(tmp_path, edit, message):
    path = fake_table(TINY_V2).save(tmp_path / "t.lut.csv")
    path.write_text(edit(path.read_text()))
    with pytest.raises(ValueError, match=message):
        lut.LatencyTable.load(path)


# --- arguments ----------------------------------------------------------------------------------------------

BLOCK = (ConvBNAct(3, 8, 3), (1, 3, 8, 8))


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(device="tpu"), "device"),
        (dict(threads=0), "threads"),
        (dict(threads=True), "threads"),
        (dict(rounds=0), "rounds"),
        (dict(context_passes=-1), "context_passes"),
        (dict(context_group=0), "context_group"),
        (dict(round_time_ms=0), "round_time_ms"),
        (dict(blocks=[]), "blocks"),
        (dict(blocks=[BLOCK[0]]), "blocks"),
        (dict(blocks=[("conv", (1, 3, 8, 8))]), "spec"),
        (dict(blocks=[(BLOCK[0], (1, 0, 8, 8))]), "input_shape"),
        (dict(blocks=[(BLOCK[0], 8)]), "input_shape"),
    ],
)
def test_measure_blocks_bad_arguments(kwargs, argument):
    arguments = {"blocks": [BLOCK]} | kwargs
    with pytest.raises(ValueError, match=argument):
        lut.LatencyTable().measure_blocks(**arguments)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(batch_size=0), "batch_size"),
        (dict(resolution=0), "resolution"),
        (dict(resolution=(32, 32, 3)), "resolution"),
        (dict(threads=0), "threads"),
        (dict(network="mobilenet_v2"), "network"),
        (dict(statistic="mean"), "statistic"),
    ],
)
def test_predict_bad_arguments(kwargs, argument):
    arguments = {"network": TINY_V3} | kwargs
    with pytest.raises(ValueError, match=argument):
        fake_table(TINY_V3).predict(**arguments)


def test_a_table_with_two_devices_asks_which_one():
    table = fake_table(TINY_V2)
    for entry in list(table):
        table.add(dataclasses.replace(entry, device="Other GPU"))
    with pytest.raises(ValueError, match="device"):
        table.predict(TINY_V2)
    assert table.predict(TINY_V2, device="Other GPU").device == "Other GPU"


def uneven_table(networks, seed: int = 0) -> lut.LatencyTable:
    """`fake_table`'s entries with seeded random times: alone 0.1-1 ms, in context 0-100% more."""
    rng = random.Random(seed)
    entries = []
    for entry in fake_table(*networks):
        alone = rng.uniform(0.1, 1.0)
        context = alone * (1 + rng.random())
        entries.append(
            dataclasses.replace(
                entry, median_ms=alone, p25_ms=alone, context_median_ms=context, context_p25_ms=context
            )
        )
    return lut.LatencyTable(entries)


VARIED = (
    TINY_V3,
    TINY_V2,
    dataclasses.replace(TINY_V3, num_classes=7),
    dataclasses.replace(TINY_V2, num_classes=5),
)


@given(scale=st.floats(0.5, 2.0), share=st.floats(0.0, 1.0), seed=st.integers(0, 10_000))
@settings(max_examples=25, deadline=None)
def test_calibrate_recovers_the_scale_and_the_share_of_the_excess(scale, share, seed):
    table = uneven_table(VARIED, seed)
    measured = []
    for network in VARIED:
        prediction = table.predict(network)
        measured.append(
            (network, scale * (prediction.plain_ms + share * (prediction.context_ms - prediction.plain_ms)))
        )
    fit = table.calibrate(measured)
    assert fit.scale == pytest.approx(scale, rel=1e-6) and fit.share == pytest.approx(share, abs=1e-6)
    assert fit.mape_percent == pytest.approx(0, abs=1e-6)
    for network, latency_ms in measured:
        prediction = table.predict(network)
        assert prediction.latency_ms == pytest.approx(latency_ms)
        parts = sum(prediction.layer_ms(layer) for layer in prediction.layers) + prediction.containers_ms
        assert parts == pytest.approx(prediction.latency_ms)
        assert sum(prediction.by_stage(predicted=True).values()) + prediction.containers_ms == pytest.approx(
            parts
        )


def test_a_share_outside_zero_to_one_is_clipped_and_the_scale_refitted():
    table = uneven_table(VARIED)
    over = [
        (n, 1.1 * (p.plain_ms + 1.6 * (p.context_ms - p.plain_ms)))
        for n, p in ((n, table.predict(n)) for n in VARIED)
    ]
    fit = table.calibrate(over)
    assert fit.share == 1.0 and fit.mape_percent > 0
    only_scale = table.calibrate(over, fit_share=False)
    assert only_scale.share == 1.0 and only_scale.scale == pytest.approx(fit.scale)
    two = table.calibrate(over[:2])  # too few networks to tell the terms apart: the scale alone
    assert two.share == 1.0


def test_each_size_uses_the_scale_fitted_nearest_to_it():
    table = fake_table(TINY_V3)
    assert table.calibration(32).scale == 1.0 and table.predict(TINY_V3).calibrated_at is None
    table.calibrations[(DEVICE, THREADS, "p25", None)] = lut.Calibration(1.5, "p25")  # an older file's
    assert table.calibration(96).scale == 1.5
    for size, scale in ((32, 1.1), (64, 1.2), (224, 0.9)):
        table.calibrations[(DEVICE, THREADS, "p25", (size, size))] = lut.Calibration(
            scale, resolution=(size, size)
        )
    expected = {32: 1.1, 40: 1.1, 48: 1.2, 64: 1.2, 100: 1.2, 128: 0.9, 224: 0.9, 512: 0.9}
    assert {size: table.calibration(size).scale for size in expected} == expected  # by pixel ratio
    # 32x64 is 2048 pixels, twice 32x32's and half 64x64's: a tie goes to the smaller size
    assert table.calibration((32, 64)).resolution == (32, 32)
    assert table.calibration(32, statistic="median").scale == 1.0  # fitted for the lower quartile only
    prediction = table.predict(TINY_V3)
    assert prediction.calibrated_at == (32, 32) and prediction.latency_ms == pytest.approx(
        1.1 * prediction.context_ms
    )


def test_calibrate_fits_one_size_at_a_time():
    table = fake_table(TINY_V3, resolution=32)
    for entry in fake_table(TINY_V3, resolution=64):
        table.add(entry)
    with pytest.raises(ValueError, match="one input size"):
        table.calibrate([(TINY_V3, 1.0), (dataclasses.replace(TINY_V3, resolution=64), 1.0)])
    table.calibrate([(TINY_V3, 2.0)], resolution=64)
    table.calibrate([(TINY_V3, 1.0)], resolution=32)
    assert sorted(key[3] for key in table.calibrations) == [(32, 32), (64, 64)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_timings_keep_freed_memory_so_calls_do_not_page_fault():
    """After `steady_allocator`, a network's calls reuse the process's memory. MobileNetV2 at
    224x224 pays thousands of page faults per call with glibc's default; with the steady
    allocator it pays none of those. The kernel may still fault a few pages for its own reasons
    (NUMA balancing samples memory by unmapping it), the same in both processes, so the two are
    compared side by side rather than against zero."""
    code = (
        "import resource, sys, torch; from lwcnn import lut; from lwcnn.models import spec\n"
        "print(lut.steady_allocator() if sys.argv[1] == 'steady' else 'default')\n"
        "torch.set_num_threads(1)\n"
        "net, x = spec('mobilenet_v2').build().eval(), torch.randn(1, 3, 224, 224)\n"
        "faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "with torch.no_grad():\n"
        "    for _ in range(3): net(x)\n"
        "    before = faults()\n"
        "    for _ in range(5): net(x)\n"
        "print(faults() - before)"
    )
    counts = {}
    for mode in ("default", "steady"):
        run = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, check=True)
        allocator, faults = run.stdout.split("\n")[:2]
        if "glibc" not in allocator and mode == "steady":
            pytest.skip(f"not glibc: {allocator}")
        counts[mode] = int(faults)
    assert allocator == "glibc, freed memory kept (mallopt)"
    # MobileNetV2's activations at 224x224 are megabytes: glibc's default returns each to the
    # system when freed, so the default process faults at least a thousand pages per call.
    assert counts["default"] > 5 * 1000, counts
    assert counts["steady"] * 4 < counts["default"], counts


def test_calibrate_bad_measurements():
    table = fake_table(TINY_V2)
    with pytest.raises(ValueError, match="measured"):
        table.calibrate([])
    with pytest.raises(ValueError, match="measured"):
        table.calibrate([(TINY_V2, -1.0)])


# --- measuring: the machinery only (no assertion on how long anything took) --------------------------------


def test_measure_blocks_fills_entries_and_restores_threads():
    threads = torch.get_num_threads()
    block = ConvBNAct(3, 8, 3)
    table = lut.LatencyTable.build(
        [(block, (1, 3, 8, 8))], threads=1, rounds=1, round_time_ms=0.1, context_passes=1
    )
    entry = table.lookup(block, (1, 3, 8, 8))
    assert 0 < entry.p25_ms <= entry.median_ms and 0 < entry.context_p25_ms <= entry.context_median_ms
    assert entry.runs >= 3 and entry.context_runs >= 1
    assert (entry.params, entry.macs) == (block.cost(8).params, block.cost(8).macs)
    assert entry.ops > 0 and entry.weight_bytes > 0 and entry.device == lut.device_label("cpu")
    assert torch.get_num_threads() == threads
    runs = entry.runs
    table.measure_blocks([(block, (1, 3, 8, 8))], threads=1, rounds=1, round_time_ms=0.1, context_passes=1)
    assert table.lookup(block, (1, 3, 8, 8)).runs > runs  # samples accumulate


# --- the recorded lesson tables --------------------------------------------------------------------------------


def test_recorded_tables_load_with_the_expected_rows():
    tables = lut.recorded_tables()
    assert tables, "data/latency/ holds at least this course's CPU recording"
    for slug, recorded in tables.items():
        assert slug == lut.slugify(recorded.metadata["device"])
        for key in ("device", "torch", "threads", "date", "command"):
            assert recorded.metadata[key]
        separable = [r for r in recorded.select("separable") if r["batch"] == 1]
        assert {r["item"] for r in separable} == {"standard 3x3", "separable 3x3"}
        assert {r["input_shape"] for r in separable} == {"64x56x56", "128x28x28", "256x14x14", "512x7x7"}
        assert {r["item"] for r in recorded.select("kernel")} == {
            "separable 3x3",
            "separable 5x5",
            "two separable 3x3",
        }
        assert {"relu", "hardswish", "silu (swish)"} <= {r["item"] for r in recorded.select("activation")}
        assert {r["item"] for r in recorded.select("se")} == {"IR with SE", "IR without SE"}
        zoo = {r["item"]: r for r in recorded.select("zoo")}
        assert "mobilenet_v2" in zoo and "mnasnet" not in zoo and "efficientnet" not in zoo
        assert (zoo["mobilenet_v2"]["params"], zoo["mobilenet_v2"]["macs"]) == (3_504_872, 300_774_272)
        assert all(r["median_ms"] > 0 and r["runs"] > 0 for r in recorded.rows)
        with pytest.raises(ValueError, match="table"):
            recorded.select("nonsense")


def test_the_cpu_recording_holds_lesson_12s_precisions_with_the_networks_macs():
    """fp32 and int8 of each of lesson 12's networks at batch 1 and 32, the MACs those of the
    network's spec (the same for both precisions), and a note saying when they were re-recorded."""
    from lwcnn import models, prune
    from lwcnn.paths import PRUNING_CHECKPOINT, QUANTIZATION_CHECKPOINT

    (cpu,) = [table for table in lut.recorded_tables().values() if table.metadata["kind"] == "cpu"]
    rows = {(r["item"], r["batch"]): r for r in cpu.select("precision")}
    assert "precision" in cpu.metadata and "CPU capability" in cpu.metadata["precision"]
    for name, path in (
        ("MobileNetV2 x0.5", QUANTIZATION_CHECKPOINT),
        ("MobileNetV3-Small x0.5 (lesson 08)", PRUNING_CHECKPOINT),
    ):
        cfg = prune.load_pruned(path).cfg
        for batch in (1, 32):
            for precision in ("fp32", "int8"):
                row = rows[f"{name} {precision}", batch]
                assert row["input_shape"] == "1x32x32"
                assert (row["params"], row["macs"]) == (models.cost(cfg).params, batch * cfg.cost(32).macs)
    assert len(rows) == 8


def test_shipped_lookup_tables_predict_what_the_benchmark_recorded():
    """Written by the benchmark's process, read here: the keys must match across processes, and
    each size's shipped table predicts every network recorded at that size as the benchmark did."""
    benchmark = benchmark_scripts.load("lut_accuracy")
    rows = lut.lut_accuracy()
    sizes = sorted({row["resolution"] for row in rows})
    assert sizes == [32, 64, 128, 224]
    assert set(lut.DATA_DIR.glob(f"*{lut.TABLE_SUFFIX}")) == {lut.table_path(size) for size in sizes}
    for size in sizes:
        table = lut.LatencyTable.load(lut.table_path(size))
        assert table.metadata["resolution"] == str(size)
        assert {key[2:] for key in table.calibrations} == {(s, (size, size)) for s in lut.STATISTICS}
        for calibration in table.calibrations.values():
            assert calibration.networks == benchmark.CALIBRATION_NETWORKS
        evaluation, calibration, zoo = benchmark.networks_at(size)
        networks = {
            **{f"random {benchmark.EVALUATION_SEED}/{i}": n for i, n in enumerate(evaluation)},
            **{f"random {benchmark.CALIBRATION_SEED}/{i}": n for i, n in enumerate(calibration)},
            **dict(zoo),
        }
        recorded = [row for row in rows if row["resolution"] == size]
        assert len(recorded) == len(networks) == 50 + (5 if size == 224 else 0)
        for row in recorded:
            prediction = table.predict(networks[row["network"]], size)
            assert prediction.calibrated_at == (size, size)
            assert prediction.latency_ms == pytest.approx(row["predicted_ms"], rel=1e-3, abs=1e-3)
            assert prediction.plain_ms == pytest.approx(row["plain_ms"], rel=1e-3, abs=1e-3)
            assert networks[row["network"]].cost(size).macs == row["macs"]
        with pytest.raises(ValueError, match="measure_blocks"):  # not in the table
            table.predict(TINY_V3)


def test_table_path_names_a_size_and_a_device(tmp_path):
    assert lut.table_path(224, "some-cpu", tmp_path) == tmp_path / "some-cpu.224.lut.csv"
    with pytest.raises(ValueError, match="none"):
        lut.table_path(96)
    (tmp_path / "a.32.lut.csv").touch()
    (tmp_path / "b.32.lut.csv").touch()
    with pytest.raises(ValueError, match=r"a\.32\.lut\.csv, b\.32\.lut\.csv"):
        lut.table_path(32, folder=tmp_path)
    with pytest.raises(ValueError, match="resolution"):
        lut.table_path(0)


def test_the_shipped_table_holds_at_every_size_it_was_validated_at():
    """The claim lesson 07 prints: at most 5% MAPE at each size, on the 30 evaluation networks
    (never fitted on), and on the zoo at 224; the plain FBNet sum is far worse."""
    rows = lut.lut_accuracy()
    errors = lut.lut_errors(rows)
    assert sorted(errors) == [32, 64, 128, 224]
    for size, summary in errors.items():
        assert summary["networks"] == 30
        assert summary["model_mape"] <= 5.0, size
        assert summary["plain_mape"] > 2 * summary["model_mape"]
    assert lut.lut_errors(rows, role="zoo")[224]["model_mape"] <= 5.0
    assert {row["network"] for row in rows if row["role"] == "zoo"} == {
        "mobilenet_v2",
        "mobilenet_v3_large",
        "mobilenet_v3_small",
        "mnasnet_a1",
        "efficientnet_b0",
    }


def test_lut_errors_are_mean_absolute_percent_errors_per_size():
    def row(size, role, measured, predicted, plain):
        return {
            "resolution": size,
            "role": role,
            "measured_p25_ms": measured,
            "predicted_ms": predicted,
            "context_ms": predicted,
            "plain_ms": plain,
        }

    rows = [
        row(32, "evaluation", 2.0, 2.2, 1.0),
        row(32, "evaluation", 4.0, 3.6, 2.0),
        row(64, "zoo", 1.0, 1.0, 1.0),
    ]
    errors = lut.lut_errors(rows)
    assert list(errors) == [32]
    assert errors[32]["model_mape"] == pytest.approx(10.0) and errors[32]["model_bias"] == pytest.approx(0.0)
    assert errors[32]["plain_mape"] == pytest.approx(50.0) and errors[32]["networks"] == 2
    assert lut.lut_errors(rows, role="zoo")[64]["model_mape"] == 0.0
    with pytest.raises(ValueError, match="role='calibration'"):
        lut.lut_errors(rows, role="calibration")


def test_lut_accuracy_says_which_device_to_read(tmp_path):
    with pytest.raises(ValueError, match="slug"):
        lut.lut_accuracy(folder=tmp_path)
    with pytest.raises(FileNotFoundError, match="lut_accuracy.py"):
        lut.lut_accuracy("absent-device", folder=tmp_path)


def test_recorded_tables_without_a_folder_say_how_to_make_one(tmp_path):
    with pytest.raises(ValueError, match="record_latency"):
        lut.recorded_tables(tmp_path / "absent")
    with pytest.raises(ValueError, match="record_latency"):
        lut.recorded_tables(tmp_path)


def test_side_by_side_puts_every_recorded_device_in_a_column(tmp_path):
    shipped = lut.recorded_tables()
    assert shipped, "the course ships at least this CPU's recording"
    source = next(iter(shipped.values()))
    text = (lut.DATA_DIR / f"{source.slug}.csv").read_text()
    (tmp_path / "first-device.csv").write_text(text.replace(f"# device: {source.device}", "# device: First"))
    second = [line for line in text.splitlines() if "mobilenet_v2," not in line]  # a device missing one row
    (tmp_path / "second-device.csv").write_text(
        "\n".join(second).replace(f"# device: {source.device}", "# device: Second")
    )
    table = lut.side_by_side("zoo", tmp_path).splitlines()
    assert "First" in table[0] and "Second" in table[0]
    row = next(line for line in table if line.startswith("mobilenet_v2 @"))
    assert row.count(" ms") == 1 and row.rstrip().endswith("-")
    assert len(table) == 1 + len(source.select("zoo"))
    with pytest.raises(ValueError, match="table='nope'"):
        lut.side_by_side("nope", tmp_path)
    # a device recorded before a table was added: "-" in its column, not an error
    older = [line for line in text.splitlines() if not line.startswith("fused,")]
    (tmp_path / "second-device.csv").write_text(
        "\n".join(older).replace(f"# device: {source.device}", "# device: Second")
    )
    fused = lut.side_by_side("fused", tmp_path).splitlines()
    assert len(fused) == 1 + len(source.select("fused"))
    assert all(line.rstrip().endswith("-") for line in fused[1:])


def test_a_hand_edited_recording_names_its_file_and_row(tmp_path):
    shipped = next(iter(lut.recorded_tables().values()))
    lines = (lut.DATA_DIR / f"{shipped.slug}.csv").read_text().splitlines()
    last = lines[-1].split(",")
    lines[-1] = ",".join(last[:-3])  # a row cut short
    (tmp_path / "edited.csv").write_text("\n".join(lines))
    with pytest.raises(ValueError, match=r"edited.csv: row \d+ of the table"):
        lut.recorded_tables(tmp_path)
