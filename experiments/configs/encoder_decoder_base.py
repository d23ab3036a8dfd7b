"""The keys every encoder-decoder config adds to base.py (not a runnable experiment).

seq2seq_reverse.py, t5_tiny_span.py and translate_tiny.py start here; any key can be
overridden on the command line (--config.model.num_decoder_layers=4, --config.decode.beam_size=1).
Defaults are T5-style: pre-RMSNorm, T5 relative position bias, ReLU MLP, no biases, one
shared and tied embedding. The original Transformer is norm_placement=post,
norm=layernorm, position=sinusoidal, scale_embeddings=True, use_bias=True.
"""
import ml_collections

from experiments.configs import base


def get_config() -> ml_collections.ConfigDict:
  c = base.get_config()
  c.objective = "seq2seq"
  m = c.model
  m.family = "encoder_decoder"
  m.norm = "rmsnorm"
  m.norm_placement = "pre"
  m.position = "relative"  # relative (T5 buckets) | rope | sinusoidal | learned | none
  m.activation = "relu"
  m.use_bias = False
  m.tie_embeddings = True  # output layer = the (decoder's) token embedding, transposed
  m.num_decoder_layers = 0  # 0: same as model.num_layers (the encoder's)
  m.share_embeddings = True  # one token table for source and target
  m.scale_embeddings = False  # original Transformer: token embeddings x sqrt(d_model)
  m.scale_tied_logits = False  # T5: decoder output x d_model**-0.5 before a tied output
  m.relative_buckets = 32  # T5's relative_attention_num_buckets
  m.relative_max_distance = 128  # T5's relative_attention_max_distance
  m.decoder_start_id = 2  # BOS; T5 checkpoints start from pad (0)

  d = c.data
  d.max_target_len = 64  # target tokens incl. EOS; data.seq_len is the source length
  d.long_examples = "truncate"  # truncate (T5: cut after EOS was added) | error
  d.packing = False  # True: several examples per row, kept apart by segment ids (T5 pack)
  # synthetic (data/builders/synthetic.py):
  d.task = "reverse"  # reverse | sort | copy | addition
  d.min_len = 4
  d.max_len = 12  # letters (digits per number for addition)
  d.num_train = 20_000
  d.num_eval = 500  # validation and test examples each
  d.data_seed = 0
  # parallel_text (data/builders/parallel_text.py): "src,tgt" or "dir/train.{en,de}"
  d.train_files = ""
  d.validation_files = ""
  d.test_files = ""
  # a TFDS translation dataset by name: its source/target features (e.g. de, en)
  d.source_lang = ""
  d.target_lang = ""
  # span_corruption (data/span_corruption.py):
  d.num_sentinels = 0  # T5 uses 100 <extra_id_i> tokens at the top of the vocabulary
  d.noise_density = 0.15
  d.mean_noise_span_length = 3.0

  c.train.label_smoothing = 0.0

  c.decode = dc = ml_collections.ConfigDict()  # eval.main / final report (eval/seq2seq.py)
  dc.beam_size = 4  # 1: greedy
  dc.alpha = 0.6  # GNMT length penalty ((5 + len) / 6) ** alpha
  dc.max_len = 0  # 0: data.max_target_len
  dc.batch_size = 64
  dc.max_examples = 0  # 0: the whole split
  dc.num_samples = 10  # example outputs written to the workdir
  dc.bleu_tokenize = ""  # sacrebleu tokenizer; "": char for char-tokenizer runs, else 13a
  c.sample.num_samples = 0  # LM sampling does not apply
  return c
