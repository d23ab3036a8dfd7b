"""The device mesh and the one table that maps logical axis names to mesh axes.

Params name their axes (`embed`, `mlp`, `heads`, `kv`, `vocab`, `layers`, `norm`);
activations name `batch`, `length`, `embed`. Data parallel puts every device on `data`;
FSDP shards `embed` over `fsdp`; tensor parallel splits `mlp`/`heads`/`vocab` (Megatron).
`config.mesh.rules` overrides entries of the table per run (`axis_rules`).
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import flax.linen as nn
import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

MESH_AXES = ("data", "fsdp", "tensor")

LOGICAL_AXIS_RULES = (
    ("batch", ("data", "fsdp")),
    ("length", None),
    ("embed", "fsdp"),
    ("mlp", "tensor"),
    ("heads", "tensor"),
    ("kv", None),
    ("vocab", "tensor"),
    ("norm", None),
    ("layers", None),
)


def axis_rules(overrides: str = "") -> tuple:
  """The logical->mesh table with `config.mesh.rules` applied on top of LOGICAL_AXIS_RULES.

  `overrides` is "name=axis[+axis],..."; an empty axis replicates, e.g. "embed=,vocab=fsdp"
  turns FSDP off for `embed` and shards the vocabulary over `fsdp` instead.
  """
  rules = dict(LOGICAL_AXIS_RULES)
  for item in filter(None, (part.strip() for part in overrides.split(","))):
    name, sep, axes = item.partition("=")
    name = name.strip()
    if not sep or name not in rules:
      raise ValueError(
          f"bad mesh.rules entry {item!r}: write name=axis[+axis] with name one of "
          f"{', '.join(rules)} (e.g. 'embed=,vocab=fsdp')")
    mesh_axes = tuple(a.strip() for a in axes.split("+") if a.strip())
    unknown = [a for a in mesh_axes if a not in MESH_AXES]
    if unknown:
      raise ValueError(f"mesh.rules entry {item!r} names unknown mesh axes {unknown}; "
                       f"the mesh axes are {', '.join(MESH_AXES)}")
    rules[name] = (mesh_axes[0] if len(mesh_axes) == 1 else mesh_axes) or None
  return tuple(rules.items())


def mesh_shape(mesh_config: Any, num_devices: int) -> tuple[int, int, int]:
  """(data, fsdp, tensor) sizes; data=-1 takes every device the other axes leave."""
  fsdp, tensor, data = mesh_config.fsdp, mesh_config.tensor, mesh_config.data
  if fsdp < 1 or tensor < 1:
    raise ValueError(f"mesh.fsdp={fsdp} and mesh.tensor={tensor} must be >= 1")
  if data == -1:
    if num_devices % (fsdp * tensor):
      raise ValueError(
          f"mesh.fsdp*mesh.tensor={fsdp * tensor} does not divide the {num_devices} devices")
    data = num_devices // (fsdp * tensor)
  if data < 1 or data * fsdp * tensor > num_devices:
    raise ValueError(
        f"mesh data*fsdp*tensor = {data}*{fsdp}*{tensor} = {data * fsdp * tensor} but "
        f"there are {num_devices} devices; set mesh.data=-1 to use all of them")
  return data, fsdp, tensor


def make_mesh(mesh_config: Any, devices: Any = None) -> Mesh:
  """A Mesh(('data', 'fsdp', 'tensor')) over all devices, or the first data*fsdp*tensor
  of them when the config asks for fewer (e.g. mesh.data=1 for a one-device baseline).

  jax.make_mesh orders the devices by the physical topology (e.g. a TPU ring), where a
  plain reshape of jax.devices() would not. Axis types stay Auto (jax.make_mesh's default
  is Explicit), as the logical-axis shardings of flax.linen expect.
  """
  devices = jax.devices() if devices is None else list(devices)
  shape = mesh_shape(mesh_config, len(devices))
  return jax.make_mesh(shape, MESH_AXES, axis_types=(AxisType.Auto,) * len(MESH_AXES),
                       devices=devices)


def batch_size_per_step_check(global_batch: int, mesh: Mesh) -> None:
  """The global batch must split evenly over the batch-parallel axes."""
  parallel = mesh.shape["data"] * mesh.shape["fsdp"]
  if global_batch % parallel:
    raise ValueError(
        f"data.batch_size={global_batch} is not divisible by the data-parallel size "
        f"{parallel} (mesh data*fsdp); pick a batch size that is a multiple of it")


def logical_shardings(abstract_tree: Any, mesh: Mesh,
                      rules: tuple = LOGICAL_AXIS_RULES) -> Any:
  """NamedShardings for a tree whose leaves may be boxed with logical axis names."""
  specs = nn.get_partition_spec(abstract_tree)
  return nn.logical_to_mesh_sharding(specs, mesh, rules)


def check_divisible(abstract_tree: Any, shardings: Any, mesh: Mesh) -> None:
  """Every sharded dimension must split evenly over its mesh axes; say which param and axis
  does not, before anything compiles (XLA's own error names neither)."""
  def check(path, leaf, sharding):
    for dim, axes in enumerate(sharding.spec):
      axes = (axes,) if isinstance(axes, str) else tuple(axes or ())
      size = int(np.prod([mesh.shape[a] for a in axes]))
      if leaf.shape[dim] % size:
        raise ValueError(
            f"param {jax.tree_util.keystr(path)} of shape {tuple(leaf.shape)}: dimension {dim} "
            f"({leaf.shape[dim]}) is not divisible by mesh axis {'*'.join(axes)} of size "
            f"{size}; change that model size or the mesh.{axes[0]} size")
  jax.tree_util.tree_map_with_path(check, abstract_tree, shardings)


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """[batch, length] arrays split over the batch-parallel axes."""
  return NamedSharding(mesh, P(("data", "fsdp"), None))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def global_batch(local_batch: dict, mesh: Mesh) -> dict:
  """Assemble this process's numpy batch into global jax.Arrays on the mesh."""
  sharding = batch_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in local_batch.items()}


def aligned_batches(batches: Iterator[dict]) -> Iterator[dict]:
  """Local batches until EVERY process has run out: each step is a collective, so a process
  whose shard ends first feeds zero batches (weight 0: they add nothing to the sums)."""
  if jax.process_count() == 1:
    yield from batches
    return
  last = None
  while True:
    batch = next(batches, None)
    if not multihost_utils.process_allgather(np.int32(batch is not None)).any():
      return
    last = batch = batch if batch is not None else jax.tree.map(np.zeros_like, last)
    yield batch


def mesh_context(mesh: Mesh, rules: tuple = LOGICAL_AXIS_RULES) -> contextlib.ExitStack:
  """Mesh + logical axis rules, so `nn.with_logical_constraint` inside models applies."""
  stack = contextlib.ExitStack()
  stack.enter_context(jax.set_mesh(mesh))
  stack.enter_context(nn.logical_axis_rules(rules))
  return stack
