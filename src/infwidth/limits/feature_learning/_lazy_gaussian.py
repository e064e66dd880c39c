"""A width-n Gaussian matrix sampled lazily: exact in law, O(n k) memory for k revealed directions.

``W`` has iid N(0, s^2) entries. Given what was already revealed (``W Qx = Yq``, ``W^T Qz = Uq`` with
orthonormal ``Qx``, ``Qz``), ``W = Yq Qx^T + Qz Uq^T Px + Pz Wfresh Px`` in law, where ``P`` projects
off the span and ``Wfresh`` is an independent copy. So ``W V`` for new columns ``V`` needs fresh
Gaussian columns only along the part of ``V`` outside ``span(Qx)`` (and symmetrically for ``W^T``).
This lets finite deep linear nets of width 2^14 and more be simulated without ``n x n`` storage.
"""

from __future__ import annotations

import torch


class _Revealed:
    """Orthonormal directions ``q`` (columns) and their images, in growable buffers."""

    def __init__(self, n: int, dtype: torch.dtype, device: torch.device | None) -> None:
        self.q = torch.zeros(n, 16, dtype=dtype, device=device)
        self.img = torch.zeros_like(self.q)
        self.k = 0

    def view(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.q[:, : self.k], self.img[:, : self.k]

    def append(self, q: torch.Tensor, img: torch.Tensor) -> None:
        r = q.shape[1]
        if self.k + r > self.q.shape[1]:
            cap = max(2 * self.q.shape[1], self.k + r)
            for name in ("q", "img"):
                old = getattr(self, name)
                new = old.new_zeros(old.shape[0], cap)
                new[:, : self.k] = old[:, : self.k]
                setattr(self, name, new)
        self.q[:, self.k : self.k + r] = q
        self.img[:, self.k : self.k + r] = img
        self.k += r


class LazyGaussianMatrix:
    """Square ``n x n`` matrix with iid N(0, s^2) entries revealed only through products."""

    def __init__(self, n: int, std: float, generator: torch.Generator, dtype: torch.dtype,
                 device: torch.device | None, rtol: float = 1e-10) -> None:
        self.n, self.std, self.gen, self.rtol = n, std, generator, rtol
        self.dtype, self.device = dtype, device
        self.right = _Revealed(n, dtype, device)  # W q = img
        self.left = _Revealed(n, dtype, device)  # W^T q = img

    def _apply(self, v: torch.Tensor, transpose: bool) -> torch.Tensor:
        src, dst = (self.left, self.right) if transpose else (self.right, self.left)
        q_in, img_in = src.view()
        q_out, img_out = dst.view()
        a = q_in.mT @ v
        r = v - q_in @ a
        a2 = q_in.mT @ r  # classical Gram-Schmidt twice
        r, a = r - q_in @ a2, a + a2
        out = img_in @ a + q_out @ (img_out.mT @ r)
        u, s, vh = torch.linalg.svd(r, full_matrices=False)
        scale = torch.linalg.vector_norm(v, dim=0).max()
        rank = int((s > self.rtol * scale).sum()) if scale > 0 else 0
        if rank == 0:
            return out
        e = u[:, :rank]
        e = e - q_in @ (q_in.mT @ e)  # keep the new directions orthogonal to the old ones
        e, _ = torch.linalg.qr(e)
        g = self.std * torch.randn(self.n, rank, generator=self.gen, dtype=torch.float64)
        g = g.to(self.dtype).to(self.device)
        g = g - q_out @ (q_out.mT @ g)
        img_e = q_out @ (img_out.mT @ e) + g  # W e for the new orthonormal directions e
        out = out + g @ (e.mT @ r)
        src.append(e, img_e)
        return out

    def matmul(self, vs: torch.Tensor) -> torch.Tensor:
        """``W @ vs`` for ``vs`` of shape ``(n, k)``."""
        return self._apply(vs, transpose=False)

    def rmatmul(self, zs: torch.Tensor) -> torch.Tensor:
        """``W^T @ zs`` for ``zs`` of shape ``(n, k)``."""
        return self._apply(zs, transpose=True)
