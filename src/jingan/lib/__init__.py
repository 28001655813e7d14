"""Model-free helpers shared by every context. Nothing here imports our own contexts."""
