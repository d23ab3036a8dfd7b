"""Hugging Face checkpoints in and out of attnlab workdirs.

  python -m eval.convert --from_hf=/path/to/gpt2 --family=gpt2 --workdir=/tmp/gpt2
  python -m eval.generate --workdir=/tmp/gpt2 --prompt="Hello"
  python -m eval.convert --to_hf=/tmp/run --out=/tmp/run_hf      # loads in transformers

--from_hf takes a directory with config.json + *.safetensors and the tokenizer files
(GPT2LMHeadModel, BertForPreTraining, BertForMaskedLM, RobertaForMaskedLM,
T5ForConditionalGeneration for T5 and T5.1.1). Mapping:
model/hf.py; workdir reading/writing: eval/hf_workdir.py.
"""
from absl import app
from absl import flags

from train import cli

_FROM_HF = flags.DEFINE_string("from_hf", None, "HF model directory to import.")
_FAMILY = flags.DEFINE_enum("family", None, ["gpt2", "bert", "roberta", "t5"],
                            "Expected family (checked against config.json; default: detect).")
_WORKDIR = flags.DEFINE_string("workdir", None, "New attnlab workdir to write (--from_hf).")
_TO_HF = flags.DEFINE_string("to_hf", None, "attnlab workdir to export.")
_OUT = flags.DEFINE_string("out", None, "Directory for the exported HF files (--to_hf).")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step to export; default the latest.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  from eval import hf_workdir
  if bool(_FROM_HF.value) == bool(_TO_HF.value):
    raise app.UsageError("give exactly one of --from_hf=DIR --workdir=W or --to_hf=W --out=DIR")
  if _FROM_HF.value:
    if not _WORKDIR.value:
      raise app.UsageError("--from_hf needs --workdir")
    exp = hf_workdir.import_to_workdir(_FROM_HF.value, _WORKDIR.value, _FAMILY.value)
    m = exp.config.model
    print(f"wrote {_WORKDIR.value}: family={m.family} layers={m.num_layers} d_model={m.d_model} "
          f"heads={m.num_heads} vocab={m.vocab_size} objective={exp.config.objective}")
    return
  if not _OUT.value:
    raise app.UsageError("--to_hf needs --out")
  config, tensors = hf_workdir.export_workdir(_TO_HF.value, _OUT.value, _STEP.value,
                                              _FAMILY.value)
  print(f"wrote {_OUT.value}: {config['architectures'][0]}, {len(tensors)} tensors, "
        f"{sum(t.size for t in tensors.values()):,} parameters")


if __name__ == "__main__":
  cli.run(main)
