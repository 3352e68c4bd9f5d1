"""Taking a run home as a standalone PyTorch script that trains it again.

`write_script(folder, path)`: a plain script (model, data, optimizer, loop, as the PyTorch tutorials write
them) that needs only torch and torchvision and reproduces the run's settings: the same model code, the
same initialisation, the same batches in the same order (a DataLoader whose generator is seeded as the
workbench seeds its own), the same optimizer. On the CPU it ends with the run's test accuracy. Also the
pieces every export shares: `run_config`, `check_output_file`, `write_text`, `ExportError`
(metrics.py writes the CSV and TensorBoard files).

Everything is read from the run folder (config.json, events.jsonl); nothing here trains or imports a UI.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import textwrap
from pathlib import Path

from ..config import DEFAULT_BATCH_SIZE
from ..errors import WorkbenchError
from ..runs.files import CONFIG, REQUEST, read_json

NL = "\n"
IDX = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}  # dataset -> torchvision.datasets class
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
LOSSES = {"cross_entropy": "nn.CrossEntropyLoss()", "nll": "nn.NLLLoss()", "mse": "nn.MSELoss()"}
INIT_CALLS = {  # trainers.models.init.INITS, as code
    "normal": "nn.init.normal_(p, mean=0.0, std=0.01)",
    "xavier": "nn.init.xavier_uniform_(p)",
    "kaiming": 'nn.init.kaiming_normal_(p, nonlinearity="relu")',
    "constant": "nn.init.constant_(p, 1.0)",
}


class ExportError(WorkbenchError):
    """A run that cannot be exported, or an output that cannot be written."""


def run_config(folder: str | os.PathLike) -> dict:
    """The settings the run started with (config.json), or one sentence on why there are none."""
    folder = Path(folder)
    path = folder / CONFIG
    if not path.exists():
        if (folder / REQUEST).exists():
            raise ExportError(f"{folder.name} has not started yet (no {CONFIG}); export it once it trains.")
        raise ExportError(f"{folder.name} never started: it has no {CONFIG} to export.")
    config = read_json(path)
    if config is None or not config.get("model") or not config.get("dataset"):
        raise ExportError(f"{path} is damaged or not a run's config; there is nothing to export from it.")
    return config


# ------------------------------------------------------------------------------------------ the script


def write_script(folder: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Write the run's training script to `path` (overwriting it); returns the path."""
    folder = Path(folder)
    text = script_source(run_config(folder), folder)
    return write_text(path, text)


def write_text(path: str | os.PathLike, text: str) -> Path:
    path = Path(path).expanduser()
    check_output_file(path)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise ExportError(f"could not write {path}: {err.strerror or err}.") from None
    return path


def check_output_file(path: str | os.PathLike) -> None:
    """A file can be written at `path`: said before any work, in one sentence."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give a file name such as {path / 'train.py'}.")
    if not path.parent.is_dir():
        raise ExportError(f"cannot write {path}: the folder {path.parent} does not exist.")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ExportError(f"cannot write {path}: permission denied.")


def script_source(config: dict, folder: Path | None = None) -> str:
    """The standalone script for a run's config.json (a dict as RunConfig.to_dict() plus its "run")."""
    from ..data.registry import DATASETS

    cfg = dict(config)
    run = cfg.get("run") if isinstance(cfg.get("run"), dict) else {}
    dataset, model_name = cfg["dataset"], cfg["model"]
    if dataset not in DATASETS:
        raise ExportError(f"unknown dataset {dataset!r} in the run's config.")
    if dataset == "image-folder":
        raise ExportError("--script writes mnist, fashion-mnist and synthetic-digits runs; an image-folder run's "
                          "layouts and held-out split are the workbench's own (--csv and --tensorboard work).")
    task = run.get("task") or "classify"
    classes = list(run.get("classes") or DATASETS[dataset].classes or [])
    classify = task == "classify"
    model_code, build, loss = _model_code(model_name, task, len(classes), cfg.get("model_sha256"))
    normalize = classify and bool(cfg.get("normalize", True))
    notes = _notes(cfg, run, model_name)
    name = folder.name if folder is not None else "?"
    limit = cfg.get("limit_batches")
    limit_test = cfg.get("limit_test_batches")
    device = str(cfg.get("device") or "auto")
    if device == "auto":
        device_code = ('torch.device("cuda" if torch.cuda.is_available() else\n'
                       '                      "mps" if torch.backends.mps.is_available() else "cpu")')
    else:
        device_code = f'torch.device("{device}")'

    data_code, data_imports = (_synthetic_data(cfg.get("extra") or {}) if dataset == "synthetic-digits"
                               else _idx_data(dataset, cfg, run))
    uses_f = re.search(r"\bF\.", model_code) is not None
    imports = _sorted_imports(["import torch", "from torch import nn", "from torch.utils.data import DataLoader"]
                              + (["from torch.nn import functional as F"] if uses_f else []) + data_imports)
    header = textwrap.wrap(f'"""Train {model_name} on {dataset} as the workbench run {name} did: the same model, '
                           "data, batch order, initialisation and optimizer. Only torch and torchvision are needed: "
                           "`python THIS_FILE.py`.", 100) + [""] + textwrap.wrap(
        "Exported by `workbench export --script`. On the CPU (and the same torch) it ends with the run's test "
        f"{'accuracy' if classify else 'loss'}; other devices may differ in the last digits of float rounding.", 100)
    if notes:
        header += ["", "Not reproduced here:"]
        for note in notes:
            header += textwrap.wrap(note, 100, initial_indent="- ", subsequent_indent="  ")
    header.append('"""')
    opt = cfg.get("optimizer") or "adam"
    settings = [
        "# ---- the run's settings (its config.json) ----",
        f"SEED = {int(cfg.get('seed') or 0)}  # seeds the parameters (torch.manual_seed) and the batch order",
        f"EPOCHS = {int(cfg.get('epochs') or 1)}",
        f"BATCH_SIZE = {int(cfg.get('batch_size') or DEFAULT_BATCH_SIZE)}",
        f"TEST_BATCH_SIZE = {int(cfg.get('test_batch_size') or 1000)}",
        f"LIMIT_BATCHES = {limit!r}  # train on at most this many batches per epoch (None: all of them)",
        f"LIMIT_TEST_BATCHES = {limit_test!r}  # evaluate on at most this many (None: the whole test set)",
        f"LR = {float(cfg.get('lr') or 1e-3)!r}",
    ]
    if opt == "sgd":
        settings.append(f"MOMENTUM = {float(cfg.get('momentum') or 0.0)!r}")
    settings += [f"WEIGHT_DECAY = {float(cfg.get('weight_decay') or 0.0)!r}",
                 f"NORMALIZE = {normalize!r}  # inputs as (x - mean) / std, the dataset's statistics",
                 f"DEVICE = {device_code}",
                 "PRINT_EVERY = 100  # batches between progress lines"]
    if classify:
        settings.append(f"CLASSES = {tuple(classes)!r}")
    optimizer = ("torch.optim.SGD(trainable, lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)" if opt == "sgd"
                 else "torch.optim.Adam(trainable, lr=LR, weight_decay=WEIGHT_DECAY)")
    init = _init_code(cfg)
    target = "y" if classify else "x"
    main = f'''
def train(model, loader, loss_fn, optimizer):
    model.train()
    limit = LIMIT_BATCHES if LIMIT_BATCHES and LIMIT_BATCHES < len(loader) else None
    batches = limit or len(loader)
    total = min(len(loader.dataset), batches * BATCH_SIZE)
    # Sums stay on the device and are read when printed: loss.item() every batch would wait for a GPU.
    loss_sum = torch.zeros((), device=DEVICE)
    correct = torch.zeros((), dtype=torch.int64, device=DEVICE)
    seen = 0
    for b, (x, y) in enumerate(loader, start=1):
        x, y = x.to(DEVICE), y.to(DEVICE)
        out = model(x)
        loss = loss_fn(out, {target})
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(y)
{"        correct += (out.argmax(1) == y).sum()" + NL if classify else ""}        seen += len(y)
        if b % PRINT_EVERY == 0:
            print(f"  loss {{loss.item():>8.6f}}  [{{seen:>6d}}/{{total:>6d}}]")
        if b == limit:  # a DataLoader left early draws no more: the next epoch's order stays the run's
            break
    return loss_sum.item() / max(seen, 1), {"correct.item() / max(seen, 1)" if classify else "None"}


def evaluate(model, loader, loss_fn):
    model.eval()
    loss_sum = torch.zeros((), device=DEVICE)
    correct = torch.zeros((), dtype=torch.int64, device=DEVICE)
    n = 0
    with torch.no_grad():
        for b, (x, y) in enumerate(loader, start=1):
            x, y = x.to(DEVICE), y.to(DEVICE)
            out = model(x)
            loss_sum += loss_fn(out, {target}) * len(y)
{"            correct += (out.argmax(1) == y).sum()" + NL if classify else ""}            n += len(y)
            if b == LIMIT_TEST_BATCHES:
                break
    return loss_sum.item() / max(n, 1), {"(correct.item(), n)" if classify else "None"}


def main():
{_flush_code(cfg)}    train_set, test_set = load_data()
    # The workbench draws each epoch's order from a generator seeded with SEED, exactly as a DataLoader with
    # shuffle=True and that generator does; the test loader gets a generator of its own so that it takes
    # nothing from torch's global random stream.
    train_loader = DataLoader(train_set, batch_size=BATCH_SIZE, shuffle=True,
                              generator=torch.Generator().manual_seed(SEED))
    test_loader = DataLoader(test_set, batch_size=TEST_BATCH_SIZE, shuffle=False, generator=torch.Generator())

    torch.manual_seed(SEED)  # the parameters' initial values
    model = {build}
{init}    model.to(DEVICE)
    print(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = {optimizer}
    loss_fn = {loss}

    for epoch in range(1, EPOCHS + 1):
        print(f"Epoch {{epoch}}/{{EPOCHS}}")
        train_loss, train_accuracy = train(model, train_loader, loss_fn, optimizer)
        test_loss, test_result = evaluate(model, test_loader, loss_fn)
{_report_code(classify)}


if __name__ == "__main__":
    main()
'''
    pieces = ["\n".join(header), "", "\n".join(imports), "", "\n".join(settings), "", "",
              "# ---- the model (" + _model_origin(model_name) + ") ----", "", model_code.strip(), "", "",
              "# ---- the data ----", "", data_code.strip(), "", "", "# ---- training ----", "", "", main.strip(), ""]
    return "\n".join(pieces) + "\n"


def _sorted_imports(lines: list[str]) -> list[str]:
    """The standard library's first, then numpy, torch and torchvision, each group sorted (isort's way)."""
    third = ("numpy", "torch", "torchvision", "PIL")
    merged: dict[str, list[str]] = {}  # from torch.utils.data import DataLoader, TensorDataset: one line
    for line in lines:
        if line.startswith("from ") and " as " not in line:
            module, names = line[5:].split(" import ")
            merged.setdefault(module, []).extend(n.strip() for n in names.split(","))
    lines = [s for s in lines if not (s.startswith("from ") and " as " not in s)] + [
        f"from {m} import {', '.join(sorted(set(names)))}" for m, names in merged.items()]
    unique = sorted(set(lines), key=lambda s: (s.split()[0] == "from", s))
    stdlib = [s for s in unique if s.split()[1].split(".")[0] not in third]
    others = [s for s in unique if s not in stdlib]
    return stdlib + ([""] if stdlib and others else []) + others


def _report_code(classify: bool) -> str:
    if classify:
        return textwrap.indent(textwrap.dedent('''\
            correct, n = test_result
            print(f"epoch {epoch}/{EPOCHS}  train loss {train_loss:.4f} accuracy {100 * train_accuracy:.2f}%  "
                  f"test loss {test_loss:.6f} accuracy {100 * correct / n:.2f}% ({correct}/{n})")'''), " " * 8)
    return textwrap.indent(textwrap.dedent('''\
        print(f"epoch {epoch}/{EPOCHS}  train loss {train_loss:.6f}  test loss {test_loss:.6f}")'''), " " * 8)


def _flush_code(cfg: dict) -> str:
    if not cfg.get("flush_denormal", True):
        return ""
    return ('    if DEVICE.type == "cpu":\n'
            '        # as the workbench: denormal floats count as zero (else later epochs run up to 2x slower)\n'
            '        torch.set_flush_denormal(True)\n')


def _notes(cfg: dict, run: dict, model_name: str) -> list[str]:
    notes = []
    if cfg.get("amp", "off") != "off":
        notes.append(f"--amp {cfg['amp']}: the run trained in mixed precision; this script trains in float32.")
    if cfg.get("compile"):
        notes.append("--compile: the run used torch.compile (same numbers up to float rounding).")
    if cfg.get("fused_adam") and cfg.get("optimizer") == "adam":
        notes.append("--fused-adam: the run used Adam's fused kernel; this script's plain Adam rounds a little "
                     "differently.")
    if cfg.get("channels_last") and "Conv" in str(run.get("summary", "")):
        notes.append("--channels-last: the run's convolutions ran channels-last on the CPU too, which rounds a "
                     "little differently; this script keeps PyTorch's default layout.")
    if "Conv" in str(run.get("summary", "")):
        notes.append("on a CUDA GPU the workbench keeps convolutions' inputs channels-last (faster; same numbers up "
                     "to float rounding); this script keeps PyTorch's default layout.")
    if int(cfg.get("nproc_per_node") or 1) * int(cfg.get("nnodes") or 1) > 1:
        notes.append("the run trained under torchrun on several processes; this script trains the same global "
                     "batches in one process.")
    if cfg.get("resume") or int(run.get("start_epoch") or 0):
        notes.append("the run was resumed from a checkpoint; this script trains from scratch, which a resumed "
                     "workbench run matches.")
    if ":" in model_name and model_name.split(":", 1)[0].endswith(".py"):
        notes.append(f"the model's file {model_name.rsplit(':', 1)[0]} is copied in below as it is now (the SHA-256 "
                     f"the run recorded: {cfg.get('model_sha256') or 'none'}); code it imports from beside it must be "
                     "importable where this script runs. It came with the run, not with the workbench: read it before "
                     "you run this script.")
    return notes


# ------------------------------------------------------------------------------------------- the model


def _model_origin(model_name: str) -> str:
    from ..models.registry import MODELS, is_user_model

    if is_user_model(model_name):
        return f"copied from {model_name.rsplit(':', 1)[0]}"
    builder = MODELS[model_name].builder
    module = builder.split(":")[0] if isinstance(builder, str) else "?"
    return f"{model_name}, from the workbench's {module.replace('.', '/')}.py"


def _model_code(model_name: str, task: str, num_classes: int, sha256: str | None = None) -> tuple[str, str, str]:
    """(source defining the model, the expression that builds it, the loss). A user's file is read, never
    run, and copied only while it still has the SHA-256 the run recorded."""
    import hashlib

    from ..models.registry import MODELS, is_user_model

    if is_user_model(model_name):
        path_text, attr = model_name.rsplit(":", 1)
        path = Path(path_text).expanduser()
        try:
            data = path.read_bytes()
            source = data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ExportError(f"cannot read the run's model file {path} to copy it: "
                              f"{getattr(err, 'strerror', None) or err}.") from None
        digest = hashlib.sha256(data).hexdigest()
        if isinstance(sha256, str) and sha256 and digest != sha256:
            raise ExportError(f"{path} has SHA-256 {digest[:16]}…, not the {sha256[:16]}… the run recorded: the file "
                              f"changed since it trained, so the script would not train the same model.")
        return _user_source(source, path), f"{attr}()", LOSSES["mse" if task == "reconstruct" else "cross_entropy"]
    if model_name not in MODELS:
        raise ExportError(f"unknown model {model_name!r} in the run's config.")
    spec = MODELS[model_name]
    module_name, attr = spec.builder.split(":")
    import importlib

    module = importlib.import_module(module_name)
    code, _imports = _definitions(inspect.getsource(module), [attr])
    build = f"{attr}(num_classes={num_classes})" if spec.task == "classify" else f"{attr}()"
    return code, build, LOSSES[spec.loss]


def _user_source(source: str, path: Path) -> str:
    """A user's file as it can sit in the middle of a script: no `from __future__` (it must come first) and no
    `if __name__ == "__main__":` block (it would run when the script does)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ExportError(f"{path} does not parse ({err.msg}, line {err.lineno}); fix it to export the run.") from None
    lines = source.splitlines()
    drop = set()
    for node in tree.body:
        future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        main = (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
                and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__")
        if future or main:
            drop.update(range(node.lineno - 1, node.end_lineno))
    return "\n".join(line for i, line in enumerate(lines) if i not in drop)


def _definitions(source: str, names: list[str]) -> tuple[str, list[str]]:
    """The top-level definitions of `source` that `names` need (themselves and what they use, transitively),
    in their order in the file, and the module's imports."""
    tree = ast.parse(source)
    defined: dict[str, ast.stmt] = {}
    imports = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                for n in ast.walk(target):
                    if isinstance(n, ast.Name):
                        defined[n.id] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and getattr(node, "module", None) != "__future__":
            imports.append(ast.get_source_segment(source, node))
    wanted: list[ast.stmt] = []
    todo = list(names)
    while todo:
        node = defined.get(todo.pop())
        if node is None or node in wanted:
            continue
        wanted.append(node)
        todo += [n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in defined]
    lines = source.splitlines()
    out: list[str] = []
    previous = None
    for node in sorted(wanted, key=lambda n: n.lineno):
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        while start > 0 and lines[start - 1].lstrip().startswith("#"):  # the comment just above it
            start -= 1
        plain = isinstance(node, (ast.Assign, ast.AnnAssign))
        if previous is not None:  # constants one after another, definitions two blank lines apart (PEP 8)
            out += [] if plain and previous else ["", ""]
        out += lines[start:node.end_lineno]
        previous = plain
    return "\n".join(out), imports


# -------------------------------------------------------------------------------------------- the data


def _synthetic_data(extra: dict) -> tuple[str, list[str]]:
    from ..data import synthetic

    code, imports = _definitions(inspect.getsource(synthetic), ["generate"])
    data_seed = int(extra.get("data_seed", 0))
    train_size, test_size = int(extra.get("train_size", 10000)), int(extra.get("test_size", 2000))
    loader = f'''
DATA_SEED, TRAIN_SIZE, TEST_SIZE = {data_seed}, {train_size}, {test_size}


def load_data():
    """The run's synthetic digits, drawn as the workbench draws them (the same arrays for the same sizes and
    seed), as float tensors: ToTensor's x / 255, then Normalize with the training images' mean and std."""
    train_x, train_y = generate(TRAIN_SIZE, DATA_SEED, "train")
    test_x, test_y = generate(TEST_SIZE, DATA_SEED, "test")
    pixels = train_x.astype(np.float32) / 255
    normalize = transforms.Normalize((float(pixels.mean()),), (float(pixels.std()),))

    def dataset(images, labels):
        x = torch.from_numpy(images).to(torch.float32).div_(255)
        return TensorDataset(normalize(x) if NORMALIZE else x, torch.from_numpy(labels))

    return dataset(train_x, train_y), dataset(test_x, test_y)
'''
    intro = ("# Procedural digits, as the workbench's trainers/data/synthetic.py draws them: pen strokes per digit, "
             "wobbled,\n# slanted, rotated, drawn with Pillow at 2x and reduced, then noise. No files needed.")
    hoisted = [i for i in imports if i not in ("import torch",)]
    extra_imports = sorted(set(hoisted + ["import numpy as np"])) + [
        "from torch.utils.data import TensorDataset", "from torchvision import transforms"]
    return intro + "\n\n" + code + "\n\n" + loader, extra_imports


def _idx_source(dataset: str, cfg: dict, run: dict) -> Path | None:
    """The folder the run read its IDX files from: as its start said, else where the workbench finds them."""
    said = str(run.get("data_source") or "")
    prefix = f"{dataset} from "
    if said.startswith(prefix) and Path(said[len(prefix):]).is_dir():
        return Path(said[len(prefix):])
    from ..data.idx import find_idx

    found = find_idx(dataset, cfg.get("data_dir"))
    return found[0].parent if found else None


def _idx_data(dataset: str, cfg: dict, run: dict) -> tuple[str, list[str]]:
    from ..data.registry import DATASETS

    info, cls = DATASETS[dataset], IDX[dataset]
    source = _idx_source(dataset, cfg, run)
    if source is not None and source.name == "raw" and source.parent.name == cls:
        root_code = f"Path({json.dumps(str(source.parent.parent))})  # torchvision's own layout: ROOT/{cls}/raw"
    else:
        root_code = f'Path(__file__).resolve().parent / "data"  # torchvision reads ROOT/{cls}/raw/'
    source_code = json.dumps(str(source)) if source is not None else "None"  # a Python literal, in double quotes
    code = f'''
SOURCE = {"Path(" + source_code + ")" if source is not None else "None"}  # where the run read its IDX files
ROOT = {root_code}
MEAN, STD = {tuple(info.mean)!r}, {tuple(info.std)!r}  # the workbench's statistics for {dataset}
FILES = {IDX_FILES!r}


def unpack_files():
    """torchvision.datasets.{cls} reads the four IDX files, uncompressed, from ROOT/{cls}/raw;
    the run read them (gzipped or not) from SOURCE. They are put there once; with no SOURCE,
    torchvision downloads them (True: download)."""
    raw = ROOT / "{cls}" / "raw"
    if SOURCE is None or all((raw / name).is_file() for name in FILES):
        return SOURCE is None
    raw.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        for candidate in (SOURCE / name, SOURCE / (name + ".gz"), SOURCE / name.replace("-idx", ".idx"),
                          SOURCE / (name.replace("-idx", ".idx") + ".gz")):
            if candidate.is_file():
                with (gzip.open if candidate.suffix == ".gz" else open)(candidate, "rb") as src, \\
                        open(raw / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                break
        else:
            raise SystemExit(f"{{name}} is not in {{SOURCE}} any more; put the four IDX files there, or set "
                             f"SOURCE = None to download them.")
    return False


def load_data():
    download = unpack_files()
    steps = [transforms.ToTensor()] + ([transforms.Normalize(MEAN, STD)] if NORMALIZE else [])
    transform = transforms.Compose(steps)
    train_set = datasets.{cls}(ROOT, train=True, download=download, transform=transform)
    test_set = datasets.{cls}(ROOT, train=False, download=download, transform=transform)
    return train_set, test_set
'''
    return code, ["import gzip", "import shutil", "from pathlib import Path", "from torchvision import datasets, transforms"]


def _init_code(cfg: dict) -> str:
    """--init, --layer-init and --freeze as plain code (trainers.models.init.init_parameters, apply_layer_settings)."""
    from ..config import parse_layer_init

    out = []
    how = cfg.get("init") or "default"
    if how != "default":
        out += [f"# --init {how}: every weight (2-D and up) by that rule, every bias to zero (d2l's initialisations)",
                "with torch.no_grad():",
                "    for name, p in model.named_parameters():",
                "        if p.dim() >= 2:",
                f"            {INIT_CALLS[how]}",
                '        elif name.endswith("bias"):',
                "            p.zero_()"]
    for item in cfg.get("layer_init") or []:
        name, rule, value = parse_layer_init(item)
        if rule == "default":
            out.append(f"# --layer-init {item}: PyTorch's own initialisation, left as it is")
            continue
        out += [f"# --layer-init {item}",
                "with torch.no_grad():",
                f"    for pname, p in model.get_submodule({name!r}).named_parameters():"]
        if rule == "zeros":
            out.append("        p.zero_()")
        else:
            out += ['        if p.dim() < 2 and pname.endswith("bias"):',
                    "            p.zero_()"]
            if rule == "constant":
                out += ["        else:", f"            p.fill_({value!r})"]
            else:
                out += ["        elif p.dim() >= 2:", f"            {INIT_CALLS[rule]}",
                        "        else:  # a 1-D weight: normal is the one rule that fits",
                        "            nn.init.normal_(p, mean=0.0, std=0.01)"]
    for name in cfg.get("freeze") or []:
        out += [f"for p in model.get_submodule({name.strip()!r}).parameters():  # --freeze {name.strip()}",
                "    p.requires_grad_(False)"]
    return "".join(f"    {line}\n" for line in out)
