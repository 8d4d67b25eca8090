"""The loop, its hooks, and what every phase runs in: session, checkpoints, interruption, distributed, seeding."""
