"""Build pipeline of the GE2E speaker encoder (resemblyzer's weights) as a float ONNX model."""
