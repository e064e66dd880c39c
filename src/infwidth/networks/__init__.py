"""Finite-width PyTorch networks in any abc-parametrization, their optimizers and the coordinate check."""
