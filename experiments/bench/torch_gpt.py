"""nanoGPT's recipe in PyTorch, written from its documented settings: a same-machine reference.

Not nanoGPT's code (never shipped or copied here): the model and loop its README and config
files describe, so its step and run can be timed beside attnlab's in the same session when
nanoGPT itself is not on the machine. The model: learned token and position embeddings
(the token table tied to the output layer), pre-LN blocks (LayerNorm, one fused q/k/v
Linear, `scaled_dot_product_attention(is_causal=True)` with attention dropout, an output
Linear with residual dropout; LayerNorm, Linear 4x, exact GELU, Linear, dropout), a final
LayerNorm, no biases; weights ~ N(0, 0.02), residual output projections N(0, 0.02 /
sqrt(2 layers)). The loop: random windows of the train split each step, AdamW (weight decay
on matrices only, betas 0.9/0.99), linear warmup then cosine to lr/10, gradient clipping at
1, float32 on CPU (nanoGPT turns autocast off there), the loss read every step; every
`eval_interval` steps (step 0 included) the mean loss of `eval_iters` random batches of each
split, and a checkpoint when the validation loss improves.

  python experiments/bench/torch_gpt.py '{"mode": "steps", "layers": 4, ...}'

prints one JSON line: per-step wall times (steps mode) or the run's wall time, evaluations
and peak RSS (run mode). torch is not an attnlab dependency: run it with a Python that has it
(experiments/bench/train_throughput.py --torch_python does).
"""
from __future__ import annotations

import json
import math
import os
import resource
import sys
import tempfile
import time

DEFAULTS = {
    "mode": "steps",  # steps: time train steps on random tokens | run: a whole training run
    "layers": 4, "heads": 4, "d_model": 128, "seq_len": 64, "batch": 12, "vocab": 65,
    "dropout": 0.0, "steps": 20, "warmup": 3, "seed": 1337,
    # run mode
    "text_file": "", "max_iters": 2000, "learning_rate": 1e-3, "min_lr": 1e-4,
    "warmup_iters": 100, "eval_interval": 250, "eval_iters": 20, "weight_decay": 0.1,
}


def build(cfg: dict):
  """The model (an nn.Module returning (logits, loss)) and its AdamW optimizer."""
  import torch
  from torch import nn
  from torch.nn import functional as F

  d, n_layers = cfg["d_model"], cfg["layers"]

  class Block(nn.Module):
    def __init__(self):
      super().__init__()
      self.ln_1 = nn.LayerNorm(d, bias=False)
      self.qkv = nn.Linear(d, 3 * d, bias=False)
      self.proj = nn.Linear(d, d, bias=False)
      self.ln_2 = nn.LayerNorm(d, bias=False)
      self.fc = nn.Linear(d, 4 * d, bias=False)
      self.fc_out = nn.Linear(4 * d, d, bias=False)
      self.drop = nn.Dropout(cfg["dropout"])

    def forward(self, x):
      b, t, _ = x.shape
      q, k, v = self.qkv(self.ln_1(x)).split(d, dim=2)
      q, k, v = (y.view(b, t, cfg["heads"], -1).transpose(1, 2) for y in (q, k, v))
      y = F.scaled_dot_product_attention(
          q, k, v, dropout_p=cfg["dropout"] if self.training else 0.0, is_causal=True)
      x = x + self.drop(self.proj(y.transpose(1, 2).contiguous().view(b, t, d)))
      return x + self.drop(self.fc_out(F.gelu(self.fc(self.ln_2(x)))))

  class GPT(nn.Module):
    def __init__(self):
      super().__init__()
      self.wte = nn.Embedding(cfg["vocab"], d)
      self.wpe = nn.Embedding(cfg["seq_len"], d)
      self.drop = nn.Dropout(cfg["dropout"])
      self.blocks = nn.ModuleList(Block() for _ in range(n_layers))
      self.ln_f = nn.LayerNorm(d, bias=False)
      self.head = nn.Linear(d, cfg["vocab"], bias=False)
      self.head.weight = self.wte.weight  # tied
      for name, p in self.named_parameters():
        if p.dim() == 2:
          std = 0.02 / math.sqrt(2 * n_layers) if name.endswith(("proj.weight",
                                                                 "fc_out.weight")) else 0.02
          torch.nn.init.normal_(p, mean=0.0, std=std)

    def forward(self, idx, targets):
      pos = torch.arange(idx.shape[1], dtype=torch.long)
      x = self.drop(self.wte(idx) + self.wpe(pos))
      for block in self.blocks:
        x = block(x)
      logits = self.head(self.ln_f(x))
      return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))

  torch.manual_seed(cfg["seed"])
  model = GPT()
  params = [p for p in model.parameters() if p.requires_grad]
  groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg["weight_decay"]},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
  optimizer = torch.optim.AdamW(groups, lr=cfg["learning_rate"], betas=(0.9, 0.99))
  return model, optimizer


def lr_at(it: int, cfg: dict) -> float:
  """Linear warmup, then cosine from learning_rate to min_lr at max_iters."""
  if it < cfg["warmup_iters"]:
    return cfg["learning_rate"] * (it + 1) / (cfg["warmup_iters"] + 1)
  ratio = min(1.0, (it - cfg["warmup_iters"]) / max(1, cfg["max_iters"] - cfg["warmup_iters"]))
  return cfg["min_lr"] + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (cfg["learning_rate"]
                                                                     - cfg["min_lr"])


def _train_step(model, optimizer, x, y, lr: float) -> float:
  import torch
  for group in optimizer.param_groups:
    group["lr"] = lr
  _, loss = model(x, y)
  optimizer.zero_grad(set_to_none=True)
  loss.backward()
  torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
  optimizer.step()
  return loss.item()


def _peak_rss_mb() -> float:
  """This process's peak RSS: /proc's VmHWM where there is one (ru_maxrss of a process
  started by a larger parent begins at the parent's size)."""
  try:
    with open("/proc/self/status") as f:
      return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 2**10
  except (OSError, StopIteration):
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


def timed_steps(cfg: dict) -> dict:
  """warmup + steps train steps on random tokens: per-step wall times and CPU time."""
  import torch
  model, optimizer = build(cfg)
  model.train()
  g = torch.Generator().manual_seed(cfg["seed"])
  n = cfg["warmup"] + cfg["steps"]
  windows = torch.randint(0, cfg["vocab"], (n, cfg["batch"], cfg["seq_len"] + 1), generator=g)
  batches = [(w[:, :-1].contiguous(), w[:, 1:].contiguous()) for w in windows]
  times, cpu0, loss = [], None, None
  for i in range(n):
    if i == cfg["warmup"]:
      cpu0 = time.process_time()
    t0 = time.perf_counter()
    loss = _train_step(model, optimizer, *batches[i], cfg["learning_rate"])
    if i >= cfg["warmup"]:
      times.append(time.perf_counter() - t0)
  return {"times": times, "cpu_per_step": (time.process_time() - cpu0) / max(cfg["steps"], 1),
          "loss": loss, "peak_rss_mb": _peak_rss_mb(), "torch": torch.__version__,
          "threads": torch.get_num_threads()}


def run(cfg: dict) -> dict:
  """A whole char-level training run on cfg['text_file'] (first 90 % trains)."""
  import numpy as np
  import torch
  start = time.perf_counter()
  with open(cfg["text_file"], encoding="utf-8") as f:
    text = f.read()
  chars = sorted(set(text))
  index = {c: i for i, c in enumerate(chars)}
  ids = np.array([index[c] for c in text], dtype=np.int64)
  cut = int(0.9 * len(ids))
  splits = {"train": torch.from_numpy(ids[:cut]), "val": torch.from_numpy(ids[cut:])}
  cfg = dict(cfg, vocab=len(chars))
  model, optimizer = build(cfg)
  g = torch.Generator().manual_seed(cfg["seed"])

  def get_batch(split):
    data = splits[split]
    starts = torch.randint(len(data) - cfg["seq_len"] - 1, (cfg["batch"],), generator=g)
    window = torch.stack([data[s:s + cfg["seq_len"] + 1] for s in starts.tolist()])
    return window[:, :-1], window[:, 1:]

  @torch.no_grad()
  def estimate_loss():
    model.eval()
    out = {s: float(np.mean([model(*get_batch(s))[1].item() for _ in range(cfg["eval_iters"])]))
           for s in splits}
    model.train()
    return out

  ckpt_dir = tempfile.mkdtemp(prefix="torch_gpt_")
  best, evals, times, eval_s = float("inf"), [], [], 0.0
  for it in range(cfg["max_iters"] + 1):
    if it % cfg["eval_interval"] == 0:
      t0 = time.perf_counter()
      losses = estimate_loss()
      evals.append({"step": it, **losses})
      if losses["val"] < best and it > 0:
        best = losses["val"]
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()},
                   os.path.join(ckpt_dir, "ckpt.pt"))
      eval_s += time.perf_counter() - t0
    if it == cfg["max_iters"]:
      break
    t0 = time.perf_counter()
    _train_step(model, optimizer, *get_batch("train"), lr_at(it, cfg))
    times.append(time.perf_counter() - t0)
  return {"wall_s": time.perf_counter() - start, "times": times, "eval_s": eval_s,
          "evals": evals, "peak_rss_mb": _peak_rss_mb(), "torch": torch.__version__,
          "threads": torch.get_num_threads()}


if __name__ == "__main__":
  config = dict(DEFAULTS, **json.loads(sys.argv[1] if len(sys.argv) > 1 else "{}"))
  unknown = set(config) - set(DEFAULTS)
  if unknown:
    sys.exit(f"unknown keys {sorted(unknown)}; known: {sorted(DEFAULTS)}")
  print(json.dumps(timed_steps(config) if config["mode"] == "steps" else run(config)))
