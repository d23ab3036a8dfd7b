"""jax.export of prefill/step: the exported LM generates what the live one does; bad dirs fail."""
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from eval import export
from eval import restore
from eval import sampling
from tests import tiny
from train import loop
from train import partitioning

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  d = tmp_path_factory.mktemp("export")
  c = tiny.tiny_config(tiny.write_corpus(str(d)), str(d / "tfds"), steps=10,
                       checkpoint_every=10, eval_every=10)
  c.model.num_kv_heads, c.model.position = 2, "rope"
  c.sample.num_samples = 0  # no end-of-run samples: one decode-loop compile fewer
  workdir = str(d / "run")
  loop.train_and_evaluate(c, workdir)
  out = export.export_workdir(workdir, str(d / "export"))
  return workdir, out


def test_exported_equals_live(exported):
  workdir, out = exported
  lm = export.load(out)
  live = restore.restore_params(workdir)
  tok = live.exp.tokenizer
  prompts = [tok.encode("the quick "), tok.encode("to be or not to be, that"), tok.encode("a")]
  for settings in (sampling.Settings(1.0, 0, 0.9),):  # equal draws need equal logits
    with partitioning.mesh_context(live.exp.mesh):
      want = sampling.decode_tokens(
          sampling.model_fns(live.exp.model), live.params, prompts, max_new_tokens=40,
          max_len=32, vocab_size=live.exp.model_config.vocab_size,
          rng=jax.random.PRNGKey(3), settings=settings, stop_sequences=[[tok.eos_id]])
    got = lm.generate(prompts, max_new_tokens=40, rng=jax.random.PRNGKey(3),
                      settings=settings)
    assert got == want and max(map(len, got)) > 20, got  # > 32 - prompt: a context shift
  # The exported prefill's logits are the live model's (symbolic batch: 2 rows here).
  toks = np.array([prompts[0][:8], prompts[1][:8]], np.int32)
  pos = np.broadcast_to(np.arange(8), toks.shape).astype(np.int32)
  mask = np.ones((2, 32), bool)
  exp_logits, _ = lm.fns.prefill(lm.params, toks, pos, mask)
  live_logits = live.exp.model.apply({"params": live.params}, toks)[:, -1]
  np.testing.assert_allclose(exp_logits, live_logits, atol=1e-5, rtol=1e-5)


def test_loader_runs_without_model_package(exported):
  _, out = exported
  code = ("import sys; from eval import export; lm = export.load(sys.argv[1]); "
          "print(repr(lm.generate_text('the quick ', max_new_tokens=10))); "
          "assert not [m for m in sys.modules if m == 'model' or m.startswith('model.')]")
  proc = subprocess.run([sys.executable, "-c", code, out], cwd=REPO, capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.strip() == repr(export.load(out).generate_text("the quick ",
                                                                    max_new_tokens=10))


def test_corrupted_export_is_a_clear_error(exported, tmp_path):
  _, out = exported
  bad = str(tmp_path / "bad")
  shutil.copytree(out, bad)
  with open(os.path.join(bad, "params.npz"), "r+b") as f:
    f.seek(200)
    byte = f.read(1)
    f.seek(200)
    f.write(bytes([byte[0] ^ 0xFF]))
  with pytest.raises(ValueError, match="params.npz is corrupted"):
    export.load(bad)
  os.remove(os.path.join(bad, "step.jax"))
  with pytest.raises(ValueError, match="missing step.jax"):
    export.load(bad)
  with open(os.path.join(bad, "manifest.json"), "w") as f:
    f.write("{not json")
  with pytest.raises(ValueError, match="manifest.json is corrupted"):
    export.load(bad)
  with pytest.raises(ValueError, match="not an attnlab export"):
    export.load(str(tmp_path))
