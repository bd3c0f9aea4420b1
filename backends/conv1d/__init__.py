"""Convolution methods of op conv1d, one module per family, each registered for the backend it
runs on (methods.py; numpy: im2col, shifted, mec, col2im; scipy: fft; csimd: direct,
winograd2/4/6, im2col per ISA level; torch: conv1d). See docs/conv1d.md."""
