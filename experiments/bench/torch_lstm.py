"""The same LSTM train step in PyTorch, for a same-machine, same-run comparison.

The model of PyTorch's word_language_model example without dropout (Embedding ->
nn.LSTM(num_layers) -> Linear with bias, every weight ~ U(-0.1, 0.1)), a sequence-major
batch, the mean cross-entropy, global-norm clipping at 5 and a plain SGD update, the hidden
state carried and detached between steps as the example does. torch is not an attnlab
dependency: `timed_steps` raises ImportError when it is missing.
"""
from __future__ import annotations

import time


def timed_steps(hidden: int, layers: int, batch: int, unroll: int, vocab: int,
                steps: int, warmup: int, seed: int = 0) -> dict:
  """Run warmup + steps train steps on random tokens; returns per-step wall times (s),
  CPU time per step and the last loss."""
  import torch

  torch.manual_seed(seed)
  embed = torch.nn.Embedding(vocab, hidden)
  lstm = torch.nn.LSTM(hidden, hidden, layers)
  out = torch.nn.Linear(hidden, vocab)
  params = [*embed.parameters(), *lstm.parameters(), *out.parameters()]
  with torch.no_grad():
    for p in params:
      p.uniform_(-0.1, 0.1)
  loss_fn = torch.nn.CrossEntropyLoss()
  tokens = torch.randint(0, vocab, (warmup + steps, unroll + 1, batch))
  state = (torch.zeros(layers, batch, hidden), torch.zeros(layers, batch, hidden))
  times, loss = [], None
  cpu0 = None
  for i in range(warmup + steps):
    if i == warmup:
      cpu0 = time.process_time()
    t0 = time.perf_counter()
    inputs, targets = tokens[i, :-1], tokens[i, 1:]
    state = tuple(s.detach() for s in state)
    for p in params:
      p.grad = None
    hiddens, state = lstm(embed(inputs), state)
    loss = loss_fn(out(hiddens).view(-1, vocab), targets.reshape(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 5.0)
    with torch.no_grad():
      for p in params:
        p.add_(p.grad, alpha=-1.0)
    loss_value = loss.item()  # the example reads the loss every step too
    if i >= warmup:
      times.append(time.perf_counter() - t0)
  return {"times": times, "cpu_per_step": (time.process_time() - cpu0) / max(steps, 1),
          "loss": loss_value, "torch": torch.__version__, "threads": torch.get_num_threads()}


if __name__ == "__main__":  # run by experiments/bench/lstm.py in the interpreter that has torch
  import json
  import sys
  names = ("hidden", "layers", "batch", "unroll", "vocab", "steps", "warmup")
  print(json.dumps(timed_steps(**dict(zip(names, map(int, sys.argv[1:]))))))
