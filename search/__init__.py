"""cosearch: data-network co-search for efficient semantic segmentation."""
