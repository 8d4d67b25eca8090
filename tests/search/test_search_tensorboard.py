"""search/report/tensorboard.py: the custom-scalars layout, gate actions by name, hparams, read back
from the event files."""
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import plugin_data_pb2
from torch.utils.tensorboard import SummaryWriter

import supernet
from search.report.tensorboard import add_gate_actions, add_hparams, add_layout, final_metrics


def _events(path):
    acc = EventAccumulator(str(path), size_guidance={"tensors": 0, "scalars": 0})
    acc.Reload()
    return acc


def test_layout_gate_actions_and_hparams(tmp_path):
    net = supernet.build_supernet("multires", num_classes=4, widest=0.25)
    sites = {name: site.options for name, site in net.sites.items()}
    actions = ["drop", 0.5, 0.75, 1.0]
    writer = SummaryWriter(str(tmp_path))
    layout = add_layout(writer, sites, [0.5, 1.0], actions)
    for name, options in sites.items():  # what the co-search logs
        for option in options:
            writer.add_scalar(f"arch/{name}/{option}", 1.0 / len(options), 1)
    shares = add_gate_actions(writer, [1, 1, 3, 3, 3, 0], actions, step=1)
    report = {"runs": [{"name": "derived", "miou": 0.42, "inference": {"jetson_tx2": {"energy_j": 3e-3, "macs": 1e6}},
                        "training": {"jetson_tx2": {"energy_j": 150.0}, "wall_s": 3.0}}]}
    metrics = final_metrics(report)
    config = {"search": {"lambda_inf": 0.5, "gate_actions": actions}, "model": {"family": "multires"}}
    add_hparams(writer, config, metrics, step=7)
    writer.close()

    assert shares == {"drop": 1 / 6, "0.5x": 2 / 6, "0.75x": 0.0, "1x": 3 / 6}
    assert metrics == {"hparam/miou": 0.42, "hparam/jetson_tx2/inference_energy_j": 3e-3,
                       "hparam/jetson_tx2/inference_macs": 1e6, "hparam/jetson_tx2/training_energy_j": 150.0}
    acc = _events(tmp_path)
    # the layout: one chart per site, its options' tags; read back from the events
    (config_tensor,) = acc.Tensors("custom_scalars__config__")
    read = layout_pb2.Layout()
    read.ParseFromString(config_tensor.tensor_proto.string_val[0])
    categories = {c.title: {ch.title: list(ch.multiline.tag) for ch in c.chart} for c in read.category}
    assert set(categories["arch"]) == set(sites)
    assert categories["arch"]["backbone.branch16.keep"] == [r"^arch/backbone\.branch16\.keep/False$",
                                                            r"^arch/backbone\.branch16\.keep/True$"]
    assert categories == {k: {t: v[1] for t, v in charts.items()} for k, charts in layout.items()}
    scalars = set(acc.Tags()["scalars"])
    for charts in categories.values():  # every tag of the arch charts exists as logged
        for chart, tags in charts.items():
            if chart in sites:
                assert all(t.strip("^$").replace("\\", "") in scalars for t in tags)
    assert {"gate/choice/drop", "gate/choice/0.5x", "gate/choice/1x"} <= scalars
    assert acc.Scalars("gate/choice/1x")[0].value == 0.5
    assert acc.Scalars("hparam/miou")[0].value == pytest.approx(0.42) and acc.Scalars("hparam/miou")[0].step == 7
    # hparams: in this run's own directory, with the flattened config and the metric names
    content = acc.PluginTagToContent("hparams")
    data = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    assert {h.name for h in data.experiment.hparam_infos} == {"search.lambda_inf", "search.gate_actions", "model.family"}
    assert {m.name.tag for m in data.experiment.metric_infos} == set(metrics)
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["search.lambda_inf"].number_value == 0.5
    assert start.hparams["search.gate_actions"].string_value == "['drop', 0.5, 0.75, 1.0]"
    assert [p for p in tmp_path.iterdir() if p.is_dir()] == []  # no timestamped sub-run
