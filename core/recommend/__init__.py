"""Next-item recommendation runtime: loads the exported recsys ONNX model and ranks items."""
