"""The searchable space: choice sites, masked ops, model families, derive and export.

Public API (other parts of cosearch rely on these names)::

    import supernet
    supernet.FAMILIES                     # {"deeplabv3plus", "pspnet", "multires"} -> constructor
    net = supernet.build_supernet("deeplabv3plus", num_classes=19)   # space options: widest, width_fractions
    net.sites                             # OrderedDict name -> ChoiceSite (.options, .logits)
    net.arch_parameters(), net.weight_parameters()   # disjoint; together all parameters
    net.set_mode("gumbel_hard", tau=5.0)  # or "gumbel_soft", "argmax", "fixed" (arch=...)
    logits = net(images)                  # (N, num_classes, H, W) at the input's resolution
    net.probabilities()                   # {site: softmax(logits)}
    cost = net.expected_cost("jetson_tx2", input_shape=(1, 3, 512, 1024),
                             scale_probs={0.5: p0, 1.0: p1}, training=False)  # cost_models.Cost
    arch = net.argmax_arch()              # arch.json dict
    slim = net.derive(arch)               # plain nn.Module, sliced weights
    supernet.baseline_arch("pspnet", 19, width_mult=0.5, inference_scale=0.75)
    supernet.random_arch("multires", 19, rng)        # rng: random.Random or a seed
    supernet.keep_one_per_group(choices, net.group_names, net.likeliest_branch)  # at least one branch per group
    supernet.build_from_arch(arch_or_path)           # plain nn.Module, fresh weights
    supernet.arch.save_arch(arch, path); supernet.arch.load_arch(path)
    supernet.recalibrate_bn(model, batches)
    supernet.export.save_derived(model, arch, "derived.pt", "derived.pt2", path_onnx="derived.onnx")
    supernet.export.DeployedNet(model, inference_scale)   # native image -> scale -> net -> native logits
    supernet.scaled_size(512, 0.75)        # side length at an inference scale (as expected_cost uses)
    supernet.IGNORE_INDEX                  # 255, the label of ignored pixels

Widths: a width site offers ``round4(widest * k / 16)`` for k = 4..16 (nearest multiple of 4,
halves up, duplicates removed). ``baseline_arch(width_mult=m)`` takes, per site, the option
nearest ``m * widest`` (ties to the wider; below the narrowest option, the narrowest).

Branches: each multi-scale branch (ASPP rates 1/6/12/18 and image pooling; PSP bins
1/2/3/6; the 1/16 and 1/32 branches of ``multires``) is a keep site with options
``(False, True)``. ASPP and PSP need at least one branch kept: a fixed arch with none is
an error, and hard sampling, ``argmax`` and ``argmax_arch`` keep the likeliest branch of a
group whose branches were all dropped.

Masking: convolutions run at the widest width; the Gumbel-weighted channel mask (times
the branch's keep weight) multiplies the batch-norm scale and shift, so batch statistics
are every channel's own and a derived net's sliced batch-norm is exact (see
:mod:`supernet.layers`). Expected cost: :mod:`supernet.cost`.
"""
from . import arch, export
from .arch import ArchError, baseline_arch, build_from_arch, load_arch, random_arch, save_arch
from .bn import recalibrate_bn
from .families import FAMILIES
from .gates import IGNORE_INDEX
from .sites import ChoiceSite
from .space import keep_one_per_group
from .supernet import Supernet, build_supernet, scaled_size

__all__ = ["FAMILIES", "IGNORE_INDEX", "ArchError", "ChoiceSite", "Supernet", "arch", "baseline_arch",
           "build_from_arch", "build_supernet", "export", "keep_one_per_group", "load_arch", "random_arch",
           "recalibrate_bn", "save_arch", "scaled_size"]
