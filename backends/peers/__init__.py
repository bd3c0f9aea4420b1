"""The runtimes people ship, as peer backends: LiteRT (XNNPACK), ONNX Runtime and OpenVINO.

Each builds a one-product model of W x in `prepare`, binds the harness's own input and output
arrays to it once in `bind`, and is measured through the library's zero-copy call; each has its
own bare-call floor. Installed with `pip install 'gemmbench[peers]'`; without it they are
`unavailable` with that line. Nothing here imports a runtime until a worker prepares a row.
"""
