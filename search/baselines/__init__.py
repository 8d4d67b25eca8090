"""Phase 4: baselines (planned and matched in ``plan``, trained in ``phase``) and the lambda sweep."""
