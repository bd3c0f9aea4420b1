"""FFT convolution (scipy.fft), overlap-save: x cut into blocks of n frames overlapping by the
span, each block's spectrum multiplied by the filters' spectra (precomputed in prepare: c_out x
c_in complex spectra of n/2+1 bins) and summed over input channels, one complex GEMM per bin.
Its cost hardly depends on K, so it pays for wide kernels and long signals; for K = 3 the
c_out x c_in spectra multiply more than the convolution itself. scipy.fft returns new arrays:
this method allocates per call (the copy and workspace figures count those arrays)."""

from __future__ import annotations

import math

import numpy as np
import scipy.fft

from gemmbench.backends.conv1d.prepared import Convolution, Geometry
from gemmbench.ops.conv1d import MethodFacts


def block_length(g: Geometry) -> int:
    """FFT length: a few spans per block, not longer than the whole padded signal needs."""
    whole = scipy.fft.next_fast_len(g.t_out + g.span)
    return min(whole, scipy.fft.next_fast_len(max(64, 8 * (g.span + 1))))


class Fft(Convolution):
    def __init__(self, g: Geometry, weights: np.ndarray):
        self.geometry = g
        n = self.n = block_length(g)
        self.step = n - g.span  # valid outputs per block
        self.blocks = -(-g.t_out // self.step)
        self.dtype = weights.dtype
        complex_dtype = np.complex64 if weights.dtype == np.float32 else np.complex128
        taps = np.zeros((g.c_out, g.c_in, n), dtype=np.float64)
        for k in range(g.k):  # h[n] = w[K-1-k'] reversed and dilated: correlation as convolution
            taps[:, :, g.span - k * g.dilation] = weights[:, :, k]
        self.spectra = np.ascontiguousarray(scipy.fft.rfft(taps, axis=2).transpose(2, 0, 1)).astype(complex_dtype)
        self.padded = np.zeros((g.c_in, self.blocks * self.step + g.span), dtype=weights.dtype)
        self.result = np.zeros((g.c_out, self.blocks * self.step), dtype=weights.dtype)
        bins = n // 2 + 1
        ffts = (g.c_in + g.c_out) * self.blocks
        flops = int(2.5 * n * math.log2(n) * ffts + 8 * bins * g.c_in * g.c_out * self.blocks)
        per_call = (self.blocks * n * g.c_in + 2 * bins * self.blocks * (g.c_in + g.c_out) + g.c_out * n * self.blocks)
        self.facts = MethodFacts("fft", workspace_bytes=self.padded.nbytes + self.result.nbytes,
                                 copy_bytes=per_call * weights.dtype.itemsize, weight_bytes=self.spectra.nbytes,
                                 flops=flops, note=f"overlap-save, FFT length {n}, {self.blocks} block(s); "
                                                   f"allocates its spectra per call")

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        g = self.geometry
        src = x.T if g.channels_last else x
        take = min(g.t_in, self.padded.shape[1] - g.left)
        self.padded[:, g.left:g.left + take] = src[:, :take]
        blocks = np.lib.stride_tricks.as_strided(
            self.padded, (g.c_in, self.blocks, self.n),
            (self.padded.strides[0], self.step * self.padded.strides[1], self.padded.strides[1]), writeable=False)
        spectrum = scipy.fft.rfft(blocks, axis=2, workers=1)  # (c_in, blocks, bins)
        product = np.matmul(self.spectra, spectrum.transpose(2, 0, 1))  # (bins, c_out, blocks)
        signal = scipy.fft.irfft(product, n=self.n, axis=0, workers=1)  # (n, c_out, blocks)
        valid = signal[g.span:]  # (step, c_out, blocks)
        self.result.reshape(g.c_out, self.blocks, self.step)[...] = valid.transpose(1, 2, 0)
        np.copyto(out, self.result[:, :g.t_out].T if g.channels_last else self.result[:, :g.t_out])
