"""The entry points' XLA defaults: added once, never over the user's own setting."""
import os

from train import cli


def test_xla_defaults_join_the_users_flags_and_keep_the_users_value():
  env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
  flags = cli.set_xla_defaults(env)
  assert flags.startswith("--xla_force_host_platform_device_count=8 ")
  assert "--xla_cpu_enable_concurrency_optimized_scheduler=false" in flags
  assert cli.set_xla_defaults(env) == flags  # idempotent
  mine = {"XLA_FLAGS": "--xla_cpu_enable_concurrency_optimized_scheduler=true"}
  assert cli.set_xla_defaults(mine) == "--xla_cpu_enable_concurrency_optimized_scheduler=true"
  assert cli.set_xla_defaults({}) == " ".join(f"--{k}={v}" for k, v in cli.XLA_DEFAULTS.items())


def test_this_suite_compiles_with_the_entry_points_defaults():
  for name, value in cli.XLA_DEFAULTS.items():
    assert f"--{name}={value}" in os.environ["XLA_FLAGS"]
