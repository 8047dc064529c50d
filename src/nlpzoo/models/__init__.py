"""Model families: one LightningModule per family, built from a `TaskSpec` and hyper-parameters."""

from nlpzoo.lazy import lazy_attributes

_LOCATIONS = {
    "ZooModule": "base",
    "PretrainedDecoder": "pretrained_decoder",
    "PretrainedEncoder": "pretrained_encoder",
    "PretrainedEncoderDecoder": "pretrained_encoder_decoder",
    "FastText": "fasttext",
    "GloVe": "glove",
    "GPTModel": "gpt",
    "PretrainedFamily": "pretrained",
    "export_checkpoint": "pretrained",
    "RecurrentModel": "recurrent",
    "Seq2SeqModel": "seq2seq",
    "TransformerEncoderModel": "transformer_encoder",
    "TransformerSeq2SeqModel": "transformer_seq2seq",
    "Word2Vec": "word2vec",
    "ZeroShotClassifier": "zero_shot",
}
__all__ = sorted(_LOCATIONS)
__getattr__ = lazy_attributes(__name__, _LOCATIONS)
