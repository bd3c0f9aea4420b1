"""Hand-written C SIMD kernels (dense, 16x1 block-sparse, int8, 8x4 block-sparse int8) per ISA level."""
