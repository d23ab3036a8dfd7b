"""The small CPU budget the first sweeps share: gpt_tiny's data and model, fewer steps.

Sized so one sweep of 4 arms × 3 seeds fits in about 30 minutes on a 2-core CPU: an
estimate from ONE measured run, not a measured sweep. That run (transformer_vs_lstm's LSTM
arm, seed 0: SentencePiece on 500k chars, 300 steps, final eval on the whole validation
split) took 223 s wall, 150 CPU-s, on a 2-core machine other jobs loaded (load average ~9);
final validation loss 4.76. The final full-split eval is a fixed share of each run.
"""

SMALL_CPU = {
    "train.steps": 300,
    "train.warmup_steps": 30,
    "train.log_every": 25,
    "train.eval_every": 50,
    "train.eval_batches": 10,
    "train.checkpoint_every": 300,
    "train.progress": False,
    "data.spm_max_chars": 500_000,
    "sample.num_samples": 0,
}


# gpt_tiny's shuffle chunk (data.shuffle_buffer) until 2026-12-04, when it grew to 65536:
# the data order the committed results (experiments/results/) and benchmark figures were
# measured with, kept where they are rerun.
RESULTS_SHUFFLE_CHUNK = 8192

# SMALL_CPU on gpt_tiny's (and lstm_tiny's) stdlib data, in that order: these sweeps keep
# their published numbers.
STDLIB_SMALL_CPU = {**SMALL_CPU, "data.shuffle_buffer": RESULTS_SHUFFLE_CHUNK}


def longer(steps: int) -> dict:
  """Overrides that rerun a sweep at `steps`: one checkpoint at the end, ten evaluations."""
  return {"train.steps": steps, "train.checkpoint_every": steps,
          "train.eval_every": steps // 10}
