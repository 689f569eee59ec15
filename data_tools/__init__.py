"""Dataset preparation tools for scribblesup."""
