"""Phase 3: evaluation (confusion matrix, mIoU) and the final phase (cost, export, report)."""
