"""The small CPU budget the first sweeps share: gpt_tiny's data and model, fewer steps.

Sized so one sweep of 4 arms × 3 seeds fits in about 30 minutes on a 2-core CPU.
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
