"""Phase 2: training a fixed network with its data slimming (the trainer, the shared weight step, the phase)."""
