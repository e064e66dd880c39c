"""Infinite-width limits: kernel regime (:mod:`.kernels`) and feature learning (:mod:`.feature_learning`)."""
