"""The ``onnx-int8`` model folder, made from a sentence-transformers BERT folder.

The recipe (deterministic: the same source folder gives byte-identical files):

1. the BertModel of the source folder with eager attention (the pattern ONNX Runtime's
   transformer optimizer recognises), traced to ONNX with ``last_hidden_state`` as output
   (:func:`export_float_onnx`, also the first step of the OpenVINO recipe);
2. ``onnxruntime.transformers.optimizer`` fuses embeddings + LayerNorm, attention, bias + GELU
   and skip + LayerNorm into ONNX Runtime's contrib operators (fewer, larger kernels);
3. ``quantize_dynamic`` with per-channel int8 weights (per-tensor scales lose noticeably more
   accuracy on this model: mean cosine to float32 ~0.984 against ~0.996).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from embeddings.encoders import onnx
from embeddings.encoders.base import ModelError
from embeddings.prepare.folders import Progress, Recipe, file_sha256


def export_float_onnx(source_dir: Path, path: Path) -> None:
    """Trace the BertModel of ``source_dir`` to a float32 ONNX file whose output is the token
    vectors (``last_hidden_state``): the first step of both int8 recipes (ONNX Runtime, OpenVINO).
    Deterministic: the same folder gives the same bytes."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch
    from transformers import AutoModel

    config = json.loads((Path(source_dir) / "config.json").read_text())
    if config.get("model_type") != "bert":
        raise ModelError(f"{source_dir}: the int8 export handles BERT models only, not {config.get('model_type')!r}")
    model = AutoModel.from_pretrained(str(source_dir), attn_implementation="eager").eval()

    class LastHidden(torch.nn.Module):
        """Token vectors only: pooling happens in numpy, where sentence spans are known too."""

        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            token_type_ids = torch.zeros_like(input_ids)
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    dummy = torch.ones(2, 16, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        # The TorchScript exporter: deterministic, and its graph is one the optimizer can fuse.
        torch.onnx.export(
            LastHidden(model),
            (dummy, torch.ones_like(dummy)),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
            opset_version=17,
            dynamo=False,
        )


def _make_folder(source_dir: Path, folder: Path, say: Progress) -> dict:
    """The int8 ONNX model files, written into ``folder``; the recipe's fields of the export record."""
    import onnx as onnx_lib
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    config = json.loads((source_dir / "config.json").read_text())
    say("export")
    float_path = folder / "model_f32.onnx"
    export_float_onnx(source_dir, float_path)
    say("optimize")
    optimized = optimize_model(
        str(float_path),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
        opt_level=0,  # fusions only; ONNX Runtime applies its own graph optimisations at load
    )
    fused = optimized.get_fused_operator_statistics()
    fused_path = folder / "model_fused.onnx"
    optimized.save_model_to_file(str(fused_path))
    del optimized
    float_path.unlink()
    say("quantize")
    quantize_dynamic(
        str(fused_path),
        str(folder / onnx.MODEL_FILE),
        weight_type=QuantType.QInt8,
        per_channel=True,
        # Shape inference cannot type the fused contrib operators' outputs: they are float.
        extra_options={"DefaultTensorType": onnx_lib.TensorProto.FLOAT},
    )
    fused_path.unlink()
    return {
        "onnx_sha256": file_sha256(folder / onnx.MODEL_FILE),
        "fused_operators": {k: v for k, v in fused.items() if v},
        "quantization": "dynamic int8, per-channel weights (onnxruntime.quantization.quantize_dynamic)",
        "versions": {"torch": torch.__version__, "onnx": onnx_lib.__version__, "onnxruntime": _ort_version()},
    }


RECIPE = Recipe(onnx, _make_folder)
export_int8 = RECIPE.export


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__
