"""Convolution methods of op conv1d, one module per family, offered as variants of the
backends they run on (numpy: im2col, shifted, mec, col2im; scipy: fft; csimd: direct,
winograd2/4/6, im2col per ISA level; torch: conv1d). See docs/conv1d.md."""
