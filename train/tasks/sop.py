"""sop: masked LM + sentence-order prediction (ALBERT): mlm_nsp with swapped, not drawn, B."""
import dataclasses

from data import pipeline
from train.tasks import mlm_nsp
from train.tasks.base import without_task_cfg

TASK = dataclasses.replace(
    mlm_nsp.TASK, name="sop",
    make_dataset=without_task_cfg(pipeline.make_pair_dataset, task="sop"))
