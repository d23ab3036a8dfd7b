"""Every config key attnlab knows, with defaults; other configs start from this one.

Not a runnable experiment by itself (no dataset-specific tuning); see gpt_tiny.py.
Configs derived from this one only set values; a key one model family or objective owns
is marked "<family/objective> only" here and listed in OWNERS: another family's or
objective's config must leave it at its default (train/experiment.py validate).
"""
from typing import Any

import ml_collections

FAMILY, OBJECTIVE, DATASET = "model.family", "objective", "data.dataset"
_ENCODERS = ("bert", "electra")
_MLM = ("mlm", "mlm_nsp", "sop", "electra")
# key (or a whole section) -> (the key that selects its owners, the owners).
OWNERS: dict[str, tuple[str, tuple[str, ...]]] = {
    **{f"model.{k}": (FAMILY, _ENCODERS) for k in (
        "embed_dim", "type_vocab_size", "share_layers", "encoder_heads", "pad_id")},
    "model.generator_ratio": (FAMILY, ("electra",)),
    **{f"model.{k}": (FAMILY, ("lstm",)) for k in ("init_uniform", "output_bias")},
    "data.contiguous": (OBJECTIVE, ("causal_lm",)),  # and model.family lstm (validate)
    **{f"model.{k}": (FAMILY, ("encoder_decoder",)) for k in (
        "num_decoder_layers", "share_embeddings", "scale_embeddings", "scale_tied_logits",
        "relative_buckets", "relative_max_distance", "decoder_start_id")},
    **{f"data.{k}": (OBJECTIVE, _MLM) for k in (
        "mask_rate", "masking", "dupe_factor", "whole_word_masking")},
    **{f"data.{k}": (FAMILY, ("encoder_decoder",)) for k in (
        "max_target_len", "long_examples", "packing", "task", "min_len", "max_len",
        "num_train", "num_eval", "data_seed", "source_lang", "target_lang", "num_sentinels")},
    **{f"data.{split}_files": (DATASET, ("text_files", "parallel_text", "preference_jsonl",
                                         "prompt_lines"))
       for split in ("train", "validation", "test")},
    **{f"data.{k}": (OBJECTIVE, ("span_corruption",)) for k in (
        "noise_density", "mean_noise_span_length")},
    **{f"data.{k}": (OBJECTIVE, ("chat_sft",)) for k in (
        "chat_tokens", "chat_system", "turns_key", "turn_separator")},
    "data.eval_stride": (OBJECTIVE, ("causal_lm",)),
    "data.random_windows": (OBJECTIVE, ("causal_lm",)),
    "train.electra_disc_weight": (OBJECTIVE, ("electra",)),
    "train.epochs": (OBJECTIVE, ("causal_lm",)),  # an epoch is the split's token stream
    "train.momentum": ("train.optimizer", ("sgd",)),
    **{f"train.{k}": ("train.schedule", ("step",)) for k in (
        "decay_after_epochs", "decay_factor")},
    "train.label_smoothing": (FAMILY, ("encoder_decoder",)),
    "decode": (FAMILY, ("encoder_decoder",)),
    "chat": (OBJECTIVE, ("chat_sft",)),
    "task": (OBJECTIVE, ("classification", "token_classification")),
    "preference": (OBJECTIVE, ("dpo",)),
    "rl": (OBJECTIVE, ("grpo", "ppo")),
    "rl.group_size": (OBJECTIVE, ("grpo",)),
    **{f"rl.{k}": (OBJECTIVE, ("ppo",)) for k in (
        "gamma", "gae_lambda", "vf_coef", "vf_clip", "ppo_epochs", "num_minibatches",
        "kl_target", "kl_horizon")},
}


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0  # params init, dropout and the data order derive from it
  c.objective = "causal_lm"  # the task trained: a module in train/tasks/ (its registry lists all)
  # A pretrained attnlab workdir to start a fresh run from: DIR (latest step) or DIR@STEP.
  # Its tokenizer is copied, its params fill the model (heads absent there start fresh),
  # train/init_from.py. Ignored when the run resumes from its own checkpoint.
  c.init_from = ""

  c.model = m = ml_collections.ConfigDict()
  m.family = "gpt"  # gpt | lstm | bert | electra | encoder_decoder (lstm, model/rnn.py:
  #                   d_model = hidden size, num_layers, dropout, tie_embeddings, max_len; the
  #                   other keys are Transformer-only. bert also covers RoBERTa/ALBERT,
  #                   model/encoder.py; encoder_decoder: configs/encoder_decoder_base.py)
  m.vocab_size = 0  # 0: taken from the tokenizer at run time
  m.d_model = 128  # residual stream width (lstm: hidden size)
  m.num_layers = 2  # blocks (encoder_decoder: the encoder's)
  m.num_heads = 4  # query heads
  m.num_kv_heads = 0  # 0: same as num_heads (MHA); fewer gives GQA, 1 gives MQA
  m.head_dim = 0  # 0: d_model // num_heads
  m.mlp_dim = 512  # hidden width of each block's MLP
  m.max_len = 256  # positions the model supports (learned table size)
  m.position = "learned"  # learned | sinusoidal | rope | none | relative (T5 buckets)
  m.rope_base = 10000.0  # rope: wavelength base of the rotary frequencies
  m.position_offset = 0  # learned: table row of position 0 (RoBERTa: 2; Hugging Face import)
  m.attention_scale = 0.0  # attention logits scale; 0: 1/sqrt(head_dim) (T5 uses 1.0)
  m.norm = "layernorm"  # layernorm | rmsnorm
  m.norm_placement = "pre"  # pre | post
  m.norm_eps = 1e-5  # epsilon of every norm layer
  m.activation = "gelu"  # gelu (tanh approx.) | gelu_exact (erf) | relu | swiglu | geglu
  m.use_bias = False  # biases in dense layers and norms
  m.tie_embeddings = True  # output layer = the token embedding, transposed
  m.dropout = 0.0  # residual/embedding dropout rate, in [0, 1)
  m.attention_dropout = 0.0  # on attention weights, in [0, 1) (attention_impl=xla only)
  # On each block's MLP hidden activations (flax lm1b, T5); None: model.dropout. nanoGPT: 0.
  m.mlp_dropout = ml_collections.config_dict.placeholder(float)
  m.attention_impl = "xla"  # xla (reference) | jax (jax.nn.dot_product_attention) | cudnn (GPU)
  m.scan_layers = False  # True: one nn.scan over layers (faster compile; params stacked)
  # Recompute each block's activations in the backward: none | full | dots_saveable. On
  # XLA:CPU it saves memory with scan_layers=True (large shakespeare_char step: temp 5.2 ->
  # 1.6 GiB); unrolled, XLA schedules the recomputation early and the temp grows (5.9 GiB).
  m.remat = "none"
  # Compute dtype; params stay float32. bfloat16 accumulates its matmuls in float32 and runs
  # them on the CPU's bf16 units where there are some (AMX, AVX-512 BF16: large
  # shakespeare_char step 1.8x faster, experiments/bench/RESULTS.md).
  m.dtype = "float32"
  m.init_std = 0.02  # std of the normal init of weights and embeddings
  # Encoder families (bert, electra) only:
  m.embed_dim = 0  # bert/electra only; 0: d_model; smaller factorizes the embeddings (ALBERT)
  m.type_vocab_size = 2  # bert/electra only: token-type (segment A/B) embeddings
  m.share_layers = False  # bert/electra only; True: one block's params at every layer (ALBERT)
  m.generator_ratio = 0.25  # electra only: generator width/heads/mlp as a fraction of the model's
  m.encoder_heads = "mlm,pair,rtd"  # bert/electra only: the encoder's heads (params only for these)
  m.pad_id = 0  # bert/electra only: keys holding this id are masked when no segment ids are given
  # encoder_decoder family only (model/encoder_decoder.py; T5 names in parentheses):
  m.num_decoder_layers = 0  # encoder_decoder only; 0: same as model.num_layers (the encoder's)
  m.share_embeddings = True  # encoder_decoder only: one token table for source and target
  m.scale_embeddings = False  # encoder_decoder only; True: x sqrt(d_model) (original Transformer)
  m.scale_tied_logits = False  # encoder_decoder only; T5: decoder output x d_model**-0.5 if tied
  m.relative_buckets = 32  # encoder_decoder only (relative_attention_num_buckets)
  m.relative_max_distance = 128  # encoder_decoder only (relative_attention_max_distance)
  m.decoder_start_id = 2  # encoder_decoder only: first decoder input; BOS (T5 checkpoints: pad 0)
  # lstm family only (model/rnn.py):
  m.init_uniform = 0.0  # lstm only; > 0: every param ~ U(-v, v) (Zaremba et al. 2014: 0.1)
  m.output_bias = False  # lstm only; True: the output layer (tied or not) has a bias

  c.data = d = ml_collections.ConfigDict()
  d.dataset = "python_stdlib"  # python_stdlib | text_files | any TFDS catalog name
  d.files = ""  # text_files: comma-separated paths/globs, cut by val_fraction (or *_files)
  d.data_dir = ""  # TFDS data_dir; "" uses $TFDS_DATA_DIR or ~/tensorflow_datasets
  d.text_key = "text"  # feature holding the text in TFDS catalog datasets
  d.label_key = "label"  # fine-tuning: feature/column with the class id (conll2003: "ner")
  d.train_split = "train"  # split trained on
  d.eval_split = "validation"  # split evaluated on (and the final report's)
  d.val_fraction = 0.1  # text_files: last fraction of each file is validation
  d.tokenizer = "sentencepiece"  # sentencepiece | byte | char | word (<eos> at line ends)
  d.vocab_size = 2048  # sentencepiece; word: at most this many ids, 0 = every train word
  d.spm_model_type = "bpe"  # bpe | unigram
  d.spm_max_chars = 5_000_000  # characters of training text fed to the SentencePiece trainer
  d.seq_len = 128  # tokens per row (encoder_decoder: the source length)
  d.batch_size = 32  # global batch, split over processes and devices
  d.add_eos = True  # EOS between documents when packing
  d.random_offset = True  # add_eos=False streams: chunks start at a random offset per epoch
  d.random_windows = False  # causal_lm only, add_eos=False: each row a window at a uniform
  #                           random offset of the whole (in-memory) train stream, fresh
  #                           every step (nanoGPT's get_batch), instead of packed windows
  d.packing_mask = False  # True: attention does not cross packed documents
  d.eval_stride = 0  # causal_lm only: evaluation windows start this many tokens apart, each
  #                    scoring only tokens no earlier window scored (sliding-window
  #                    evaluation, >= seq_len - eval_stride tokens of context); 0 = seq_len
  d.shuffle_buffer = 1024  # training windows are shuffled in consecutive chunks of this
  #                          many (of the stream that repeats the split, its documents in a
  #                          new order each epoch). A chunk much smaller than the split
  #                          trains on a subset of documents at a time: the train loss then
  #                          reads low and jumps when the next chunk begins (gpt_tiny.py)
  # True: stateful training and evaluation (Zaremba et al.): the split cut into batch_size
  # contiguous streams (data/contiguous.py, PyTorch's batchify), the LSTM's (c, h) carried
  # from step to step (checkpointed; no gradient through it), reset at each epoch's start
  d.contiguous = False  # causal_lm only, model.family lstm; see above
  # Masked-LM objectives (mlm, mlm_nsp, sop, electra), data/masking.py:
  d.mask_token = False  # True: the tokenizer gets a [MASK] id after its vocab (MLM needs it)
  d.mask_rate = 0.15  # masked-LM only: fraction of non-special tokens selected (80/10/10)
  d.masking = "dynamic"  # masked-LM only; dynamic: fresh masks every step (RoBERTa) | static
  d.dupe_factor = 10  # masked-LM only; static: how many masks each row cycles through (BERT)
  d.whole_word_masking = False  # masked-LM only (sentencepiece): mask every piece of a word
  # encoder_decoder family only (seq2seq, span_corruption; data/seq2seq.py):
  d.max_target_len = 64  # encoder_decoder only: target tokens incl. EOS (seq_len: the source's)
  d.long_examples = "truncate"  # encoder_decoder only: truncate (T5: cut after EOS) | error
  d.packing = False  # encoder_decoder only; True: several examples per row (T5 pack, segment ids)
  d.task = "reverse"  # encoder_decoder only, dataset synthetic: reverse | sort | copy | addition
  d.min_len = 4  # encoder_decoder only, dataset synthetic: shortest example (letters)
  d.max_len = 12  # encoder_decoder only, dataset synthetic: longest (digits per number: addition)
  d.num_train = 20_000  # encoder_decoder only, dataset synthetic: training examples
  d.num_eval = 500  # encoder_decoder only, dataset synthetic: validation and test examples each
  d.data_seed = 0  # encoder_decoder only, dataset synthetic: seed the examples are drawn from
  # Fixed splits (text_files, parallel_text, preference_jsonl, prompt_lines only), any set:
  # text_files: comma-separated paths/globs per split (instead of data.files);
  # preference_jsonl: one JSON-lines file per split (prompt, chosen, rejected);
  # prompt_lines: one text file per split, a prompt per line (grpo, ppo; data/prompts.py);
  # parallel_text: "src,tgt" or "dir/train.{en,de}".
  d.train_files = ""  # text_files, parallel_text, preference_jsonl, prompt_lines: train split
  d.validation_files = ""  # text_files, parallel_text, preference_jsonl, prompt_lines only
  d.test_files = ""  # text_files, parallel_text, preference_jsonl, prompt_lines only: test
  d.source_lang = ""  # encoder_decoder only, TFDS translation datasets: source feature (e.g. de)
  d.target_lang = ""  # encoder_decoder only, TFDS translation datasets: target feature (e.g. en)
  d.num_sentinels = 0  # encoder_decoder only: <extra_id_i> tokens atop the vocab (T5: 100)
  d.noise_density = 0.15  # span_corruption only: fraction of tokens corrupted
  d.mean_noise_span_length = 3.0  # span_corruption only: mean corrupted span length
  # chat_sft objective only (data/chat.py):
  d.chat_tokens = False  # chat_sft only; True: <|system|> <|user|> <|assistant|> <|end|> ids
  d.chat_system = ""  # chat_sft only: a system turn put in front of every dialogue ("": none)
  d.turns_key = "turns"  # chat_sft only, TFDS datasets by name: the feature holding utterances
  d.turn_separator = "\n"  # chat_sft only: splits that feature when it is one string

  c.train = t = ml_collections.ConfigDict()
  t.steps = 1000  # optimizer updates in the whole run
  # The budget in epochs of the train split instead (train/epochs.py): replaces train.steps
  # by epochs x ((tokens in the split - 1) // (batch_size x seq_len)) steps, logged at start and
  # saved as train.steps in config.json; rows of metrics.jsonl get an `epoch`.
  t.epochs = 0.0  # causal_lm only; > 0: the budget in epochs; 0: in train.steps
  t.optimizer = "adamw"  # adamw | adafactor | sgd | lion
  t.learning_rate = 1e-3  # peak, reached after warmup_steps
  t.end_learning_rate = 1e-4  # cosine/linear: the rate at the last step
  t.schedule = "cosine"  # cosine | linear | rsqrt | constant | step (needs train.epochs)
  # Zaremba et al.'s main.lua halves the lr after epochs 5, 6, ... (epochs 1-5 at the full
  # rate: decay_after_epochs=5); TensorFlow's PTB tutorial (max_epoch=4): 4.
  t.decay_after_epochs = 0  # schedule=step only: epochs at the full learning rate, then
  t.decay_factor = 0.5  # schedule=step only: lr x this at each later epoch start (Zaremba)
  # > 0: lr x this after an eval (train.eval_every) whose loss is not below the best so far
  # (PyTorch word_language_model: 0.25); carried in the optimizer state (exact on resume).
  t.plateau_factor = 0.0
  t.plateau_patience = 1  # evals without improvement before plateau_factor applies
  t.warmup_steps = 100  # linear warmup from 0
  t.b1 = 0.9  # adamw/lion first-moment decay (sgd: train.momentum)
  t.momentum = 0.0  # sgd only: heavy-ball momentum; 0 is plain SGD
  t.b2 = 0.99  # adamw/lion second-moment decay
  t.eps = 1e-8  # adamw denominator epsilon
  t.weight_decay = 0.1  # applied to matrices only (not norms, biases, embeddings); every
  #                       optimizer (sgd: L2 added to the gradient): plain SGD sets 0
  t.decay_embeddings = False  # True decays the embedding matrix too (as nanoGPT does)
  t.grad_clip = 1.0  # global norm; 0 disables
  # The loss the optimizer (clip, lr, decay) sees: token_mean, the mean over tokens, or
  # sequence_sum, summed over each row's seq_len steps and averaged over rows (= token_mean
  # x seq_len: Zaremba et al.'s lr 1 and clip 5 at seq_len 20 = lr 20, clip 0.25 in
  # token_mean). Logged losses and grad_norm stay per-token means.
  t.loss_normalization = "token_mean"
  t.grad_accum_steps = 1  # optax.MultiSteps microbatches per update
  t.electra_disc_weight = 50.0  # electra only: loss = generator MLM + this x discriminator RTD
  t.label_smoothing = 0.0  # encoder_decoder only: of the target cross-entropy, in [0, 1)
  t.log_every = 50  # steps between logged train metrics
  t.eval_every = 500  # steps between evaluations
  t.eval_every_epochs = 0.0  # > 0 (needs train.epochs): replaces eval_every by this x an epoch
  t.eval_batches = 20  # 0: the whole eval split
  # Batches of the final evaluation (final_eval row, final.json), the same first batches as
  # every evaluation; 0: the whole eval split (and then bits per byte/char, word perplexity).
  t.final_eval_batches = 0
  t.checkpoint_every = 500  # steps between checkpoints
  t.keep_checkpoints = 2  # latest checkpoints kept (a rerun resumes from the last)
  # A checkpoint with no data position for this process layout (saved by another number of
  # processes, or its data/ file lost) stops the resume unless this is True: then params,
  # optimizer and RNG restore exactly and the data order is drawn afresh from (seed, step).
  t.restart_data_order = False
  t.progress = True  # tqdm bar
  # XLA:CPU's op order for the train and eval steps (CPU only): memory | concurrency.
  # concurrency runs more ops side by side and keeps more buffers alive: the small
  # shakespeare_char step 2-7 % faster, the large one's temp buffers 5.2 -> 8.0 GiB.
  t.xla_cpu_scheduler = "memory"
  # FLOP/s of all devices the run uses, the denominator of the logged MFU; 0: a large matmul
  # in model.dtype, measured once per machine (cached: train/flops.py system_peak_flops).
  t.peak_flops = 0.0
  # Model selection (train/checkpoint.py): also keep the checkpoint with the best eval
  # value of this metric (e.g. "accuracy", "macro_f1", "loss"); "" keeps only the latest.
  t.best_metric = ""
  t.best_mode = "max"  # max | min
  t.early_stop_patience = 0  # >0: stop after this many evals without a better best_metric
  t.freeze_backbone = False  # fine-tuning: train only the head
  t.layer_decay = 1.0  # <1: layer i of L gets lr * layer_decay**(L - i) (embeddings: L+1)

  # classification and token_classification objectives only (fine-tuning, model/heads.py):
  c.task = tk = ml_collections.ConfigDict()
  tk.num_classes = 2  # fine-tuning only: label ids 0..n-1
  tk.label_names = ""  # fine-tuning only: comma-separated, one per class id; "": the data's
  tk.pooling = "cls"  # classification only: cls (encoders) | last | mean (decoders)
  tk.class_weights = ""  # fine-tuning only: comma-separated loss weight per class; "" weighs all 1
  tk.head_dropout = 0.1  # fine-tuning only: before the head

  # dpo objective only (train/tasks/dpo.py): learning from preference pairs.
  c.preference = pf = ml_collections.ConfigDict()
  pf.loss = "sigmoid"  # dpo only: sigmoid (DPO, Rafailov et al. 2023) | ipo (Azar et al. 2023)
  pf.beta = 0.1  # dpo only: the KL leash; scales the policy/reference log-ratios
  pf.label_smoothing = 0.0  # dpo only, loss sigmoid: > 0 is conservative DPO (label noise)

  # grpo and ppo objectives only (train/tasks/grpo.py, ppo.py): policy optimisation on the
  # policy's own samples. Each step samples continuations of data.batch_size prompts
  # (data.dataset=prompt_lines; a prompt keeps its last data.seq_len tokens): grpo
  # group_size of each, ppo one; data.seq_len + rl.max_new_tokens <= model.max_len.
  c.rl = rl = ml_collections.ConfigDict()
  rl.group_size = 4  # grpo only: continuations per prompt, G >= 2 (DeepSeekMath: 64)
  rl.max_new_tokens = 16  # grpo, ppo only: tokens sampled per continuation (ends at EOS)
  rl.temperature = 1.0  # grpo, ppo only, > 0: sampling temperature (1: on-policy; grpo.py)
  rl.kl_coef = 0.04  # grpo, ppo only, >= 0: weight of the per-token KL to the reference
  #                    (grpo: k3 in the loss; ppo: logp - ref in the reward)
  # ppo only: > 0 makes rl.kl_coef adaptive (Ziegler et al. 2019's controller): after
  # each rollout batch, kl_coef *= 1 + clip(KL / kl_target - 1, -0.2, 0.2) x B / kl_horizon
  # (KL: the batch's mean summed logp - ref per response, B its rollouts); 0: fixed.
  rl.kl_target = 0.0  # ppo only, >= 0: the KL per response (nats) the leash aims at
  rl.kl_horizon = 10000  # ppo only, > 0: rollouts over which the coefficient adapts
  rl.clip_eps = 0.2  # grpo, ppo only, in (0, 1): the clipped objective's ratio range 1 +- eps
  rl.gamma = 1.0  # ppo only, in [0, 1]: GAE's discount over a response's tokens
  rl.gae_lambda = 0.95  # ppo only, in [0, 1]: GAE's lambda (Ziegler et al. 2019: 0.95)
  rl.vf_coef = 0.1  # ppo only, >= 0: weight of the value loss (Ziegler et al.: 0.1)
  rl.vf_clip = 0.2  # ppo only, > 0: the value's clip range around the rollout's value
  # ppo only: each rollout batch is trained on for ppo_epochs passes of num_minibatches
  # updates (each a train step: train.steps counts updates; new rollouts every
  # ppo_epochs x num_minibatches steps, from that step's prompts).
  rl.ppo_epochs = 4  # ppo only, >= 1: passes over each rollout batch (Ziegler et al.: 4)
  rl.num_minibatches = 1  # ppo only, divides data.batch_size: updates per pass
  # token:WORD (the fraction of response tokens that are WORD's one token: a toy reward)
  # | workdir (rl.reward_spec of the trained run in rl.reward_workdir)
  rl.reward = "workdir"  # grpo, ppo only; see above
  rl.reward_workdir = ""  # grpo, ppo only, reward workdir: a classification or reward_model run
  rl.reward_spec = "prob:1"  # grpo, ppo only, reward workdir: prob:K | logit:K (a
  #                            classifier's class K) | reward (a reward model's scalar);
  #                            eval/rewards.py

  c.mesh = ms = ml_collections.ConfigDict()
  ms.data = -1  # -1: all devices not used by fsdp/tensor
  ms.fsdp = 1  # devices params and optimizer state are sharded over
  ms.tensor = 1  # devices each matmul is split over (Megatron-style)
  ms.rules = ""  # overrides of train/partitioning.py's axis table, e.g. "embed=,vocab=fsdp"

  c.sample = s = ml_collections.ConfigDict()
  s.num_samples = 3  # causal LMs: samples written at the end of the run (0: none)
  s.prompt = ""  # text the samples continue ("": start from EOS)
  s.max_new_tokens = 200  # tokens generated per sample
  s.temperature = 0.8  # 0: greedy
  s.top_k = 0  # 0: off
  s.top_p = 1.0  # nucleus mass in (0, 1]; 1: off
  s.decode_speed_tokens = 0  # > 0: final.json gets decode_tokens_per_sec (causal LMs)
  s.decode_speed_batch = 8  # rows decoded at once for decode_tokens_per_sec

  # encoder_decoder family only: eval.main and the final report (eval/seq2seq.py).
  c.decode = dc = ml_collections.ConfigDict()
  dc.beam_size = 4  # encoder_decoder only; 1: greedy
  dc.alpha = 0.6  # encoder_decoder only: GNMT length penalty ((5 + len) / 6) ** alpha
  dc.max_len = 0  # encoder_decoder only; 0: data.max_target_len
  dc.batch_size = 64  # encoder_decoder only: examples decoded at once
  dc.max_examples = 0  # encoder_decoder only; 0: the whole split
  dc.num_samples = 10  # encoder_decoder only: example outputs written to the workdir
  dc.bleu_tokenize = ""  # encoder_decoder only: sacrebleu's; "": char for char runs, else 13a

  # chat_sft objective only: python -m eval.chat's reply settings (eval/chat.py).
  c.chat = ch = ml_collections.ConfigDict()
  ch.max_new_tokens = 64  # chat_sft only: reply budget; history is cut from the oldest turn
  ch.temperature = 0.7  # chat_sft only; 0: greedy
  ch.top_p = 0.9  # chat_sft only: nucleus mass in (0, 1]
  ch.repetition_penalty = 1.1  # chat_sft only: >1 discourages repeating generated tokens
  return c


def complete(saved: Any) -> ml_collections.ConfigDict:
  """A saved config (config.json, a checkpoint's) with every key it lacks at its default.

  The one place old workdirs meet newer keys: code reads config keys directly, never
  with a .get fallback. Keys only the saved config has are kept.
  """
  def merge(into: dict, values: dict) -> dict:
    for k, v in values.items():
      into[k] = merge(into[k], v) if isinstance(into.get(k), dict) and isinstance(v, dict) else v
    return into
  values = saved.to_dict() if isinstance(saved, ml_collections.ConfigDict) else dict(saved)
  return ml_collections.ConfigDict(merge(get_config().to_dict(), values))
