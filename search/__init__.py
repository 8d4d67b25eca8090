"""cosearch's engine: data-network co-search for efficient semantic segmentation.

The flow, one folder per step (dependencies run downward only: cli -> pipeline -> phases -> engine):

    cli/        the command line (``python -m search`` / ``cosearch``), one module per command
    pipeline.py the phases of a run in order, resumable
    cosearch/   phase 1: the co-search of network and data (supernet + gates + cost model)
    derive.py   the searched supernet -> arch.json (and the learned data gate)
    train/      phase 2: training a fixed network with its data slimming
    evaluate/   phase 3: mIoU, then cost, export and report (``final``)
    baselines/  phase 4: fixed and searched baselines, the lambda sweep
    report/     what a run writes: run directory, report, plots, costs
    engine/     the loop and its hooks, session, checkpoints, interruption, distributed, seeding
    data/       datasets, splits, batches, complexity features
    config.py   the config schema; errors.py: UserError
"""
