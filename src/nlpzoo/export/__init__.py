"""From a checkpoint to production: ONNX export, quantization, parity checks, runtime backends;
and word vectors in the word2vec format other tools read.

Names load lazily (PEP 562): the model families import `word2vec_format` from here, while the
runtime modules import the families, so eager imports would be circular.
"""

from nlpzoo.lazy import lazy_attributes

_LOCATIONS = {
    "ParityReport": "onnx",
    "check_parity": "onnx",
    "export_onnx": "onnx",
    "quantize_onnx_dynamic": "onnx",
    "BACKENDS": "runtime",
    "OnnxBackend": "runtime",
    "TorchBackend": "runtime",
    "quantize_torch_dynamic": "runtime",
    "load_word2vec_format": "word2vec_format",
    "save_word2vec_format": "word2vec_format",
}

__all__ = sorted(_LOCATIONS)
__getattr__ = lazy_attributes(__name__, _LOCATIONS)
