"""Batched L-BFGS with one independent optimiser per row (face): its own memory, step and line search.

Each call to `tell` hands over the loss and gradient at every row's trial point (one batched forward and
backward pass of the rows asked for); each row then either accepts its trial (Armijo condition) and takes a
new quasi-Newton direction, or backtracks along its direction. A row whose search fails `max_backtracks`
times forgets its memory and starts again from steepest descent. Rows never mix: a face's steps depend
only on its own losses, so a batch gives each face the result it would get alone.
"""
from __future__ import annotations

import torch

ARMIJO = 1e-4  # sufficient decrease constant


class BatchedLBFGS:
    def __init__(self, x0: torch.Tensor, first_step: torch.Tensor | float, history: int = 100,
                 max_backtracks: int = 8):
        """x0 [N,D]: the rows' starting points; first_step: length of a row's first (steepest-descent) step."""
        n, d = x0.shape
        dev, dt = x0.device, x0.dtype
        self.m, self.max_backtracks = int(history), int(max_backtracks)
        self.first_step = torch.as_tensor(first_step, device=dev, dtype=dt).expand(n).clone()
        self.trial = x0.detach().clone()            # where each row wants its next evaluation
        self.x = self.trial.clone()                 # accepted points
        self.f = torch.full((n,), float("inf"), device=dev, dtype=dt)
        self.g = torch.zeros(n, d, device=dev, dtype=dt)
        self.d = torch.zeros(n, d, device=dev, dtype=dt)
        self.t = torch.ones(n, device=dev, dtype=dt)
        self.gd = torch.zeros(n, device=dev, dtype=dt)
        self.fresh = torch.ones(n, dtype=torch.bool, device=dev)   # trial is a new start: accept it as it is
        self.backtracks = torch.zeros(n, dtype=torch.long, device=dev)
        self.failed_searches = torch.zeros(n, dtype=torch.long, device=dev)
        self.S = torch.zeros(n, self.m, d, device=dev, dtype=dt)
        self.Y = torch.zeros(n, self.m, d, device=dev, dtype=dt)
        self.rho = torch.zeros(n, self.m, device=dev, dtype=dt)
        self.count = torch.zeros(n, dtype=torch.long, device=dev)  # valid pairs per row
        self.head = torch.zeros(n, dtype=torch.long, device=dev)   # ring-buffer slot for the next pair
        self.gamma = torch.zeros(n, device=dev, dtype=dt)          # s'y / y'y of the newest pair

    def restart(self, rows: torch.Tensor, x: torch.Tensor) -> None:
        """Start `rows` again from the points `x` [len(rows),D], forgetting their memory."""
        self.trial[rows] = x.to(self.trial)
        self.x[rows] = self.trial[rows]
        self.f[rows] = float("inf")
        self.fresh[rows] = True
        self._forget(rows)

    def _forget(self, rows: torch.Tensor) -> None:
        self.count[rows] = 0
        self.head[rows] = 0
        self.gamma[rows] = 0
        self.backtracks[rows] = 0

    def tell(self, rows: torch.Tensor, f: torch.Tensor, g: torch.Tensor, project=None) -> None:
        """Loss f [R] and gradient g [R,D] at the trial points of `rows`; moves those rows' trials on.

        `project` (optional) maps gradients and directions onto each row's allowed subspace.
        """
        f = f.detach().to(self.f)
        g = g.detach().to(self.g)
        bad = ~torch.isfinite(f) | ~torch.isfinite(g).all(1)
        fresh = self.fresh[rows]
        ok = ~bad & (fresh | (f <= self.f[rows] + ARMIJO * self.t[rows] * self.gd[rows]))
        accepted, rejected = rows[ok], rows[~ok]
        if len(accepted):
            self._accept(accepted, f[ok], g[ok], fresh[ok], project)
        if len(rejected):
            self._backtrack(rejected, f[~ok], bad[~ok], project)

    def _accept(self, rows, f, g, fresh, project):
        s = self.trial[rows] - self.x[rows]
        y = g - self.g[rows]
        if project is not None:  # curvature pairs live in the row's subspace, as its steps do
            y = project(rows, y)
        sy = (s * y).sum(1)
        keep = ~fresh & (sy > 1e-10 * s.norm(dim=1) * y.norm(dim=1)) & (sy > 0)
        if keep.any():
            r = rows[keep]
            slot = self.head[r]
            self.S[r, slot] = s[keep]
            self.Y[r, slot] = y[keep]
            self.rho[r, slot] = 1 / sy[keep]
            self.gamma[r] = sy[keep] / (y[keep] * y[keep]).sum(1)
            self.head[r] = (slot + 1) % self.m
            self.count[r] = (self.count[r] + 1).clamp(max=self.m)
            self.first_step[r] = s[keep].norm(dim=1)  # a later steepest-descent restart starts at this length
        self.x[rows] = self.trial[rows]
        self.f[rows] = f
        self.g[rows] = g
        self.fresh[rows] = False
        self.backtracks[rows] = 0
        self._new_direction(rows, project)

    def _backtrack(self, rows, f, bad, project):
        t, gd, f0 = self.t[rows], self.gd[rows], self.f[rows]
        # Minimiser of the quadratic through f(0), f'(0) and f(t), kept within [0.1 t, 0.5 t].
        denom = 2 * (f - f0 - gd * t)
        quad = torch.where(denom > 0, -gd * t * t / denom.clamp_min(1e-30), 0.5 * t)
        quad = torch.where(bad, 0.1 * t, quad)
        self.t[rows] = torch.minimum(torch.maximum(quad, 0.1 * t), 0.5 * t)
        self.backtracks[rows] += 1
        failed = self.backtracks[rows] > self.max_backtracks
        if failed.any():
            r = rows[failed]
            self.failed_searches[r] += 1
            self._forget(r)
            self._new_direction(r, project)
        self.trial[rows] = self.x[rows] + self.t[rows, None] * self.d[rows]

    def _new_direction(self, rows, project):
        g = self.g[rows]
        if project is not None:
            g = project(rows, g)
        q = g.clone()
        count, head = self.count[rows], self.head[rows]
        steps = int(count.max()) if len(rows) else 0
        # The rows' pairs newest first, gathered once; pairs a row does not have weigh 0.
        ages = torch.arange(steps, device=g.device)
        order = (head[:, None] - 1 - ages[None]) % self.m
        S, Y = self.S[rows[:, None], order], self.Y[rows[:, None], order]
        rho = self.rho[rows[:, None], order] * (ages[None] < count[:, None]).to(g.dtype)
        alphas = []
        for k in range(steps):  # newest to oldest
            a = rho[:, k] * (S[:, k] * q).sum(1)
            q -= a[:, None] * Y[:, k]
            alphas.append(a)
        has_memory = count > 0
        first = self.first_step[rows] / g.norm(dim=1).clamp_min(1e-30)
        q *= torch.where(has_memory, self.gamma[rows], first)[:, None]
        for k in reversed(range(steps)):  # oldest to newest
            b = rho[:, k] * (Y[:, k] * q).sum(1)
            q += (alphas[k] - b)[:, None] * S[:, k]
        d = -q
        if project is not None:
            d = project(rows, d)
        gd = (g * d).sum(1)
        # Not a descent direction (rounding in a bad memory): steepest descent instead, memory cleared.
        uphill = ~(gd < 0)
        if uphill.any():
            self._forget(rows[uphill])
            d[uphill] = -g[uphill] * first[uphill, None]
            gd = (g * d).sum(1)
        self.d[rows] = d
        self.gd[rows] = gd
        self.t[rows] = 1.0
        self.trial[rows] = self.x[rows] + d
