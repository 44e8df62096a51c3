"""One small module per model: preprocess -> onnxruntime (or dlib) -> postprocess."""
