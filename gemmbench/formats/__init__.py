"""Storage formats of weights: LPCNet's block-sparse layouts, block detection, int8 quantization."""
