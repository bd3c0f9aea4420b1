"""torch: torchaudio.functional.lfilter with batched coefficients, and the seed's plain loop.

`lfilter` (one filter per row of its (F, 3) coefficients, the waveform expanded to (B, F, T)
first: the expansion is a part timed apart) keeps no state between calls: it filters from rest
and clamps to [-1, 1] unless told not to (clamp=False here). The op's calls continue a stream,
so the state is carried the exact way a stateless filter allows, by superposition: per section,
output = lfilter(input) + the zero-input response of the state, itself an lfilter of a unit
impulse through numerator (s1, s2) over B x F rows; the state after the call follows from the
section's last two inputs and outputs. That second lfilter per section is the price of state
and is timed apart too (part `zero_input_response`).

`loop`: the forum post's version A, a Python loop over time of torch ops on (B, F) tensors.
Both run with torch's intra-op threads at the case's thread count (set as the torch backend sets them).
"""

from __future__ import annotations

import numpy as np

from gemmbench.backends.iir.base import BankRun
from gemmbench.measure.timing import Loop, python_loop
from gemmbench.ops.iir_bank import IirBankWorkload


class TorchBank(BankRun):
    """A bank in torch: its intra-op threads set as the torch backend sets them."""

    def __init__(self, workload: IirBankWorkload):
        from gemmbench.backends.torch_backend import set_threads

        set_threads()
        super().__init__(workload)

    def versions(self) -> str:
        import torch

        try:
            import torchaudio

            audio = f", torchaudio {torchaudio.__version__}"
        except ImportError:
            audio = ""
        return f"torch {torch.__version__}{audio}, {torch.get_num_threads()} intra-op thread(s)"


class TorchLfilter(TorchBank):
    def __init__(self, workload: IirBankWorkload):
        import torch

        super().__init__(workload)
        s = self.spec
        coeffs = torch.from_numpy(np.ascontiguousarray(workload.coeffs, dtype=np.float32))  # (F, S, 5)
        self.b = [coeffs[:, k, :3].contiguous() for k in range(s.s)]  # (F, 3)
        ones = torch.ones(s.f, 1)
        self.a = [torch.cat([ones, coeffs[:, k, 3:]], dim=1).contiguous() for k in range(s.s)]
        self.a_rows = [a.repeat(s.b, 1) for a in self.a]  # (B F, 3): one denominator per (signal, filter)
        self.state = torch.zeros(s.s, s.b, s.f, 2)
        self.impulse = torch.zeros(s.b * s.f, s.t)
        self.impulse[:, 0] = 1.0
        self.expanded = torch.zeros(s.b, s.f, s.t)

    def reset(self) -> None:
        self.state.zero_()

    def expand(self, x) -> None:
        self.expanded.copy_(x.unsqueeze(1).expand(-1, self.spec.f, -1))

    def zero_input_response(self, k: int):
        from torchaudio.functional import lfilter

        s = self.spec
        numerator = torch_cat_zero(self.state[k].reshape(s.b * s.f, 2))
        return lfilter(self.impulse, self.a_rows[k], numerator, clamp=False).view(s.b, s.f, s.t)

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        import torch
        from torchaudio.functional import lfilter

        s = self.spec
        self.expand(torch.from_numpy(x))
        u = self.expanded
        for k in range(s.s):
            y = lfilter(u, self.a[k], self.b[k], clamp=False) + self.zero_input_response(k)
            self.state[k] = final_state(self.b[k], self.a[k], u, y)
            u = y
        write(u, out, s)

    def parts(self, x: np.ndarray) -> dict[str, tuple[Loop, float]]:
        import torch

        x_t = torch.from_numpy(x)
        return {"input_expansion": (python_loop(lambda: self.expand(x_t)), 1.0),
                "zero_input_response": (python_loop(lambda: self.zero_input_response(0)), float(self.spec.s))}


def torch_cat_zero(pairs):
    import torch

    return torch.cat([pairs, torch.zeros(pairs.shape[0], 1)], dim=1)


def final_state(b, a, u, y):
    """TDF-II state after the last sample from the last two inputs and outputs, (B, F, 2)."""
    import torch

    b1, b2, a1, a2 = b[:, 1], b[:, 2], a[:, 1], a[:, 2]
    u1, u2, y1, y2 = u[..., -1], u[..., -2], y[..., -1], y[..., -2]
    s2 = b2 * u1 - a2 * y1
    s1 = b1 * u1 - a1 * y1 + b2 * u2 - a2 * y2
    return torch.stack([s1, s2], dim=-1)


def write(y, out: np.ndarray, spec) -> None:
    import torch

    target = torch.from_numpy(out)
    if spec.output == "full":
        target.copy_(y)
    else:
        target.copy_(y.view(spec.b, spec.f, -1, spec.frame).square().sum(-1))


class TorchLoop(TorchBank):
    def __init__(self, workload: IirBankWorkload):
        import torch

        super().__init__(workload)
        s = self.spec
        c = torch.from_numpy(np.ascontiguousarray(workload.coeffs.transpose(1, 2, 0), dtype=np.float32))
        self.c = c  # (S, 5, F): broadcasts against (B, F)
        self.s1 = torch.zeros(s.s, s.b, s.f)
        self.s2 = torch.zeros(s.s, s.b, s.f)
        self.y = torch.zeros(s.t, s.b, s.f)

    def reset(self) -> None:
        self.s1.zero_()
        self.s2.zero_()

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        import torch

        s = self.spec
        xs = torch.from_numpy(x).t().unsqueeze(-1)  # (T, B, 1)
        for t in range(s.t):
            u = xs[t]
            for k in range(s.s):
                b0, b1, b2, a1, a2 = self.c[k]
                y = b0 * u + self.s1[k]
                self.s1[k] = b1 * u - a1 * y + self.s2[k]
                self.s2[k] = b2 * u - a2 * y
                u = y
            self.y[t] = u
        write(self.y.permute(1, 2, 0), out, s)
