"""Numerical core: systems, datasets, ONNX runtime. No Qt, no torch."""
