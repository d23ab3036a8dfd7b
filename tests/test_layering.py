"""The import layering, read from the source (ast): every import, at module level or inside a
function, of every .py under model/, data/, eval/, train/ and experiments/.

  model/        imports nothing from data/, train/, eval/, experiments/
  data/         imports nothing from train/, eval/, experiments/; no cycle among its modules
  eval/metrics  imports no attnlab module (a leaf: P/R/F1 and confusion matrices on numpy)
  train/        imports from eval/ only the modules listed in TRAIN_TO_EVAL

An upward import kept on purpose is listed in ALLOWED with its reason; an entry that no
longer matches an import fails too, so the list stays true.
"""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("model", "data", "eval", "train", "experiments")

# (importing module, imported module) -> why it stays. Empty: no exception today.
ALLOWED: dict[tuple[str, str], str] = {}

# train/ may import these eval/ modules and no others (eval/ is above train/: it restores
# runs through train.experiment); each is one line of why.
TRAIN_TO_EVAL: dict[tuple[str, str], str] = {
    ("train.loop", "eval.evaluate"): "the periodic and final evaluation run inside the loop",
    ("train.loop", "eval.end_of_run"): "the task's end-of-run reports (BLEU, samples, decode "
                                       "speed), asked for in one place",
    ("train.loop", "eval.plots"): "loss.png when the run ends",
    ("train.packed", "eval.evaluate"): "each packed run's periodic and final evaluation, as "
                                       "train.loop's",
    ("train.packed", "eval.end_of_run"): "the task's config checks before a packed group "
                                         "starts, as train.loop's",
    ("train.tasks.grpo", "eval.sampling"): "GRPO's rollouts run the one KV-cache decode loop "
                                           "inside its loss",
    ("train.tasks.ppo", "eval.sampling"): "PPO's rollouts, as GRPO's",
    ("train.tasks.grpo", "eval.rewards"): "a reward workdir's spec (prob:K, logit:K, reward) "
                                          "is parsed and checked as eval.rewards does",
    ("train.tasks.grpo", "eval.restore"): "a reward workdir's params are restored as eval "
                                          "restores any run's",
    ("train.task_objectives", "eval.metrics"): "eval.metrics is a leaf: class P/R/F1 at every "
                                               "log step",
}


def _module_name(path: str) -> str:
  name = os.path.relpath(path, ROOT)[:-len(".py")].replace(os.sep, ".")
  return name[:-len(".__init__")] if name.endswith(".__init__") else name


def _all_modules() -> dict[str, str]:
  """module name -> file path, for every .py of the packages."""
  out = {}
  for package in PACKAGES:
    for directory, _, files in os.walk(os.path.join(ROOT, package)):
      for f in files:
        if f.endswith(".py"):
          path = os.path.join(directory, f)
          out[_module_name(path)] = path
  return out


MODULES = _all_modules()


def _resolve(name: str) -> str:
  """The attnlab module an imported name is: the longest existing module prefix
  (`data.tokenizers.Tokenizer` -> data.tokenizers, `data.pipeline` -> data.pipeline)."""
  parts = name.split(".")
  for i in range(len(parts), 0, -1):
    candidate = ".".join(parts[:i])
    if candidate in MODULES:
      return candidate
  return name


def _imports_in(source: str, module: str, is_package: bool) -> set[str]:
  """The attnlab modules imported anywhere (module level or in a function) in `source`."""
  package = module if is_package else module.rpartition(".")[0]
  names = []
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      names += [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:  # relative: from . import x, from ..y import z
        up = package.split(".")[:len(package.split(".")) - node.level + 1]
        base = ".".join(up + ([base] if base else []))
      names += [f"{base}.{a.name}" for a in node.names]
  return {_resolve(n) for n in names if n.split(".")[0] in PACKAGES} - {module}


def imports_of(module: str) -> set[str]:
  path = MODULES[module]
  with open(path, encoding="utf-8") as f:
    return _imports_in(f.read(), module, path.endswith("__init__.py"))


GRAPH = {m: imports_of(m) for m in sorted(MODULES)}


def _top(module: str) -> str:
  return module.split(".")[0]


def _violations(importers: str, forbidden: tuple[str, ...]) -> list[str]:
  return [f"{m} imports {d}" for m, deps in GRAPH.items() if _top(m) == importers
          for d in sorted(deps) if _top(d) in forbidden and (m, d) not in ALLOWED]


def test_model_imports_nothing_above_it():
  assert _violations("model", ("data", "train", "eval", "experiments")) == []


def test_data_imports_nothing_above_it():
  assert _violations("data", ("train", "eval", "experiments")) == []


def _cycle(graph: dict[str, set[str]]) -> list[str]:
  """One import cycle of graph (as [a, b, ..., a]), or []."""
  state: dict[str, int] = {}  # 1: on the current path, 2: done
  path: list[str] = []

  def visit(node: str) -> list[str]:
    state[node] = 1
    path.append(node)
    for dep in sorted(graph.get(node, ())):
      if state.get(dep) == 1:
        return path[path.index(dep):] + [dep]
      if dep not in state:
        found = visit(dep)
        if found:
          return found
    path.pop()
    state[node] = 2
    return []

  for node in sorted(graph):
    if node not in state:
      found = visit(node)
      if found:
        return found
  return []


def test_data_has_no_import_cycle():
  data = {m: {d for d in deps if _top(d) == "data"} for m, deps in GRAPH.items()
          if _top(m) == "data"}
  assert _cycle(data) == [], " -> ".join(_cycle(data))


def test_cycle_finder_finds_one():
  assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
  assert _cycle({"a": {"b"}, "b": set()}) == []


def test_eval_metrics_is_a_leaf():
  assert GRAPH["eval.metrics"] == set()


def test_train_imports_only_the_listed_eval_modules():
  edges = {(m, d) for m, deps in GRAPH.items() if _top(m) == "train"
           for d in deps if _top(d) == "eval"}
  assert sorted(edges - set(TRAIN_TO_EVAL)) == [], "list it in TRAIN_TO_EVAL with a reason"


def test_allowed_exceptions_still_exist():
  stale = [edge for edge in {**ALLOWED, **TRAIN_TO_EVAL} if edge[1] not in GRAPH[edge[0]]]
  assert stale == [], f"no longer imported; drop from ALLOWED: {stale}"


def test_function_level_imports_count():
  """Imports inside functions count (lazy imports hid data/'s cycles before)."""
  source = "def f():\n  from data import finetune\n  from . import pairs\n"
  assert _imports_in(source, "data.sources", is_package=False) == {"data.finetune",
                                                                    "data.pairs"}
