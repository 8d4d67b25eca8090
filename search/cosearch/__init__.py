"""Phase 1: the co-search (state and steps in ``cosearch``, the schedule in ``schedule``, the phase in ``phase``)."""
