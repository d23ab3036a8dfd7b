"""Every config key attnlab knows, with defaults; other configs start from this one.

Not a runnable experiment by itself (no dataset-specific tuning); see gpt_tiny.py.
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.objective = "causal_lm"
  # A pretrained attnlab workdir to start a fresh run from: DIR (latest step) or DIR@STEP.
  # Its tokenizer is copied, its params fill the model (heads absent there start fresh),
  # train/init_from.py. Ignored when the run resumes from its own checkpoint.
  c.init_from = ""

  c.model = m = ml_collections.ConfigDict()
  m.family = "gpt"  # gpt | lstm | bert | electra (lstm, model/rnn.py: d_model = hidden size,
  #                   num_layers, dropout, tie_embeddings, max_len; the other keys are
  #                   Transformer-only. bert also covers RoBERTa/ALBERT, model/encoder.py)
  m.vocab_size = 0  # 0: taken from the tokenizer at run time
  m.d_model = 128
  m.num_layers = 2
  m.num_heads = 4
  m.num_kv_heads = 0  # 0: same as num_heads (MHA); fewer gives GQA, 1 gives MQA
  m.head_dim = 0  # 0: d_model // num_heads
  m.mlp_dim = 512
  m.max_len = 256  # positions the model supports (learned table size)
  m.position = "learned"  # learned | sinusoidal | rope | none
  m.rope_base = 10000.0
  m.position_offset = 0  # learned: table row of position 0 (RoBERTa: 2; Hugging Face import)
  m.attention_scale = 0.0  # attention logits scale; 0: 1/sqrt(head_dim) (T5 uses 1.0)
  m.norm = "layernorm"  # layernorm | rmsnorm
  m.norm_placement = "pre"  # pre | post
  m.norm_eps = 1e-5
  m.activation = "gelu"  # gelu (tanh approx.) | gelu_exact (erf) | relu | swiglu | geglu
  m.use_bias = False
  m.tie_embeddings = True
  m.dropout = 0.0
  m.attention_dropout = 0.0
  m.attention_impl = "xla"  # xla (reference) | jax (jax.nn.dot_product_attention) | cudnn (GPU)
  m.scan_layers = False
  m.remat = "none"  # none | full | dots_saveable
  m.dtype = "float32"  # compute dtype; params stay float32
  m.init_std = 0.02
  # Encoder families (bert, electra) only:
  m.embed_dim = 0  # 0: d_model; smaller factorizes the embeddings with a projection (ALBERT)
  m.type_vocab_size = 2  # token-type (segment A/B) embeddings
  m.share_layers = False  # True: one block's params at every layer (ALBERT)
  m.generator_ratio = 0.25  # electra: generator width/heads/mlp as a fraction of the model's
  m.encoder_heads = "mlm,pair,rtd"  # heads the encoder has (params are made only for these)
  m.pad_id = 0  # encoders: keys holding this id are masked when no segment ids are given

  c.data = d = ml_collections.ConfigDict()
  d.dataset = "python_stdlib"  # python_stdlib | text_files | any TFDS catalog name
  d.files = ""  # text_files: comma-separated paths (globs allowed)
  d.data_dir = ""  # TFDS data_dir; "" uses $TFDS_DATA_DIR or ~/tensorflow_datasets
  d.text_key = "text"  # feature holding the text in TFDS catalog datasets
  d.label_key = "label"  # fine-tuning: feature/column with the class id (conll2003: "ner")
  d.train_split = "train"
  d.eval_split = "validation"
  d.val_fraction = 0.1  # text_files: last fraction of each file is validation
  d.tokenizer = "sentencepiece"  # sentencepiece | byte | char
  d.vocab_size = 2048  # sentencepiece only
  d.spm_model_type = "bpe"  # bpe | unigram
  d.spm_max_chars = 5_000_000  # characters of training text fed to the SentencePiece trainer
  d.seq_len = 128
  d.batch_size = 32  # global batch, split over processes and devices
  d.add_eos = True  # EOS between documents when packing
  d.random_offset = True  # add_eos=False streams: chunks start at a random offset per epoch
  d.packing_mask = False  # True: attention does not cross packed documents
  d.shuffle_buffer = 1024  # packed sequences shuffled in windows of this size
  # Masked-LM objectives (mlm, mlm_nsp, sop, electra), data/masking.py:
  d.mask_token = False  # True: the tokenizer gets a [MASK] id after its vocab (MLM needs it)
  d.mask_rate = 0.15  # fraction of non-special tokens selected (80% [MASK], 10% random, 10% kept)
  d.masking = "dynamic"  # dynamic: fresh masks every step (RoBERTa) | static: fixed per row
  d.dupe_factor = 10  # static: how many different masks each row cycles through (BERT)
  d.whole_word_masking = False  # sentencepiece only: mask every piece of a selected word

  c.train = t = ml_collections.ConfigDict()
  t.steps = 1000
  t.optimizer = "adamw"  # adamw | adafactor | sgd | lion
  t.learning_rate = 1e-3
  t.end_learning_rate = 1e-4
  t.schedule = "cosine"  # cosine | linear | rsqrt | constant
  t.warmup_steps = 100
  t.b1 = 0.9
  t.b2 = 0.99
  t.eps = 1e-8
  t.weight_decay = 0.1  # applied to matrices only (not norms, biases, embeddings)
  t.decay_embeddings = False  # True decays the embedding matrix too (as nanoGPT does)
  t.grad_clip = 1.0  # global norm; 0 disables
  t.grad_accum_steps = 1  # optax.MultiSteps microbatches per update
  t.electra_disc_weight = 50.0  # electra: loss = generator MLM + this x discriminator RTD
  t.log_every = 50
  t.eval_every = 500
  t.eval_batches = 20  # 0: the whole eval split
  t.checkpoint_every = 500
  t.keep_checkpoints = 2
  # A checkpoint with no data position for this process layout (saved by another number of
  # processes, or its data/ file lost) stops the resume unless this is True: then params,
  # optimizer and RNG restore exactly and the data order is drawn afresh from (seed, step).
  t.restart_data_order = False
  t.progress = True  # tqdm bar
  # FLOP/s of all devices the run uses, the denominator of the logged MFU; 0: measured at
  # start-up with a large matmul in model.dtype (train/flops.py).
  t.peak_flops = 0.0
  # Model selection (train/checkpoint.py): also keep the checkpoint with the best eval
  # value of this metric (e.g. "accuracy", "macro_f1", "loss"); "" keeps only the latest.
  t.best_metric = ""
  t.best_mode = "max"  # max | min
  t.early_stop_patience = 0  # >0: stop after this many evals without a better best_metric
  t.freeze_backbone = False  # fine-tuning: train only the head
  t.layer_decay = 1.0  # <1: layer i of L gets lr * layer_decay**(L - i) (embeddings: L+1)

  # Fine-tuning tasks (objective classification | token_classification), model/heads.py:
  c.task = tk = ml_collections.ConfigDict()
  tk.num_classes = 2
  tk.label_names = ""  # comma-separated, one per class id; "" takes them from the data
  tk.pooling = "cls"  # cls (encoders) | last | mean (last non-pad token / mean: decoders)
  tk.class_weights = ""  # comma-separated loss weight per class; "" weighs all 1
  tk.head_dropout = 0.1

  c.mesh = ms = ml_collections.ConfigDict()
  ms.data = -1  # -1: all devices not used by fsdp/tensor
  ms.fsdp = 1
  ms.tensor = 1
  ms.rules = ""  # overrides of train/partitioning.py's axis table, e.g. "embed=,vocab=fsdp"

  c.sample = s = ml_collections.ConfigDict()
  s.num_samples = 3
  s.prompt = ""
  s.max_new_tokens = 200
  s.temperature = 0.8
  s.top_k = 0
  s.top_p = 1.0
  s.decode_speed_tokens = 0  # > 0: final.json gets decode_tokens_per_sec (causal LMs)
  s.decode_speed_batch = 8
  return c
