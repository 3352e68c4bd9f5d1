"""The run configuration: plain data, no torch import, usable from the CLI, the app and notebooks."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field

from .errors import ConfigError

OPTIMIZERS = ("sgd", "adam")
INITS = ("default", "normal", "xavier", "kaiming", "constant")
LAYER_INITS = ("default", "normal", "xavier", "kaiming", "zeros", "constant")


def parse_layer_init(item: str) -> tuple[str, str, float | None]:
    """"fc1=xavier" -> ("fc1", "xavier", None); "fc2=constant:42" -> ("fc2", "constant", 42.0)."""
    name, sep, how = str(item).partition("=")
    how, _, value = how.partition(":")
    name, how = name.strip(), how.strip().lower()
    if not sep or not name or how not in LAYER_INITS:
        raise ConfigError(f"--layer-init {item!r}: write NAME=HOW, HOW one of {', '.join(LAYER_INITS)} "
                          f"(constant:VALUE for a constant), e.g. fc1=xavier.")
    if how == "constant":
        try:
            number = float(value) if value.strip() else 1.0
        except ValueError:
            raise ConfigError(f"--layer-init {item!r}: the constant must be a number, e.g. {name}=constant:42.") \
                from None
        if not math.isfinite(number):
            raise ConfigError(f"--layer-init {item!r}: the constant must be a finite number.")
        return name, how, number
    if value.strip():
        raise ConfigError(f"--layer-init {item!r}: only constant takes a value (constant:VALUE).")
    return name, how, None
DEVICES = ("auto", "cpu", "cuda", "mps")
DEFAULT_BATCH_SIZE = 64  # when neither the user nor the model's seed defaults say
AUTO = "auto"  # --batch-size auto: measured on the GPU before training (trainers.train.fit)
# torch seeds take 64 bits, but the loop derives each epoch's data order from seed + 1_000_003 * epoch; 32 bits
# (Lightning's seed_everything range) leaves that far from overflow, and numpy's generators take it as it is
MAX_SEED = 2**32 - 1


def option(default=None, help: str = "", *, flag: str | None = None, short: str | None = None,
           kind: type | None = None, choices: tuple[str, ...] | None = None, form: str | None = None,
           minimum: float | None = None, metavar: str | None = None, factory=None, words: tuple[str, ...] = ()):
    """A RunConfig field and how people set it: `flag` for the command line, `form` (a short label) for the
    app's form; `words` a number field also takes (batch size: auto). The CLI's flags and the form's fields
    are generated from these (workbench.options)."""
    meta = {"help": help, "flag": flag, "short": short, "kind": kind, "choices": choices, "form": form,
            "minimum": minimum, "metavar": metavar, "words": words}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class RunConfig:
    """Everything that decides what a run does. Unset (None) values take the model's own defaults."""

    model: str = option("mlp", "model name (see `workbench models`) or path/to/file.py:ClassName", flag="--model",
                        short="-m")
    model_sha256: str | None = option(None, "a model from the user's own file: the SHA-256 of the bytes that ran when "
                                      "the run started (set by the trainer; a run folder names code only with it)")
    dataset: str = option("synthetic-digits", "dataset name (see `workbench datasets`)", flag="--dataset", short="-d")
    epochs: int | None = option(None, "epochs to reach in all (a resumed run continues up to it)", flag="--epochs",
                                kind=int, form="epochs", minimum=1)
    batch_size: int | str | None = option(None, "samples per optimisation step (the global batch, over all "
                                          "processes); auto: the largest power of two whose step fits in the GPU's "
                                          "memory with a tenth to spare, measured before training (GPUs only)",
                                          flag="--batch-size", kind=int, form="batch", minimum=1, words=(AUTO,))
    optimizer: str | None = option(None, "optimizer: SGD with momentum, or Adam", flag="--optimizer",
                                   choices=OPTIMIZERS, form="optim")
    lr: float | None = option(None, "learning rate", flag="--lr", kind=float, form="lr")
    momentum: float | None = option(None, "SGD momentum (ignored by Adam)", flag="--momentum", kind=float,
                                    form="moment.")
    weight_decay: float | None = option(None, "L2 penalty, as the optimizer's weight_decay", flag="--weight-decay",
                                        kind=float, form="decay")
    init: str | None = option(None, "parameter initialisation (d2l's): PyTorch's default, normal, xavier, "
                              "kaiming or constant", flag="--init", choices=INITS, form="init")
    layer_init: list = option(help="one layer's initialisation, NAME=HOW with HOW one of default, normal, xavier, "
                              "kaiming, zeros or constant:VALUE (e.g. fc1=xavier, fc2=constant:42); repeatable; "
                              "after --init", flag="--layer-init", kind=list, metavar="NAME=HOW", factory=list)
    freeze: list = option(help="keep this layer's parameters as initialised (not trained); repeatable",
                          flag="--freeze", kind=list, metavar="NAME", factory=list)
    seed: int = option(0, "seeds parameters, shuffling and held-out splits: same seed, same run", flag="--seed",
                       kind=int, form="seed")
    data_seed: int | None = option(None, "seeds the data order (the shuffling) and an image folder's held-out split "
                                   "apart from the weights (default: --seed); a sweep's trials trained together share it",
                                   flag="--data-seed", kind=int, metavar="N")
    device: str = option("auto", f"{', '.join(DEVICES)} (auto: the CUDA GPU with the most free memory, then MPS, "
                         "then the CPU) or cuda:N", flag="--device", form="device")
    gpu: dict | None = option(None, "the GPU the run trains on, as the trainer found it: {\"index\": N of cuda:N, "
                              "\"name\", \"uuid\", \"memory\", \"driver\", \"cuda\": the driver's CUDA version, "
                              "\"torch_cuda\"} (set by the trainer; None off a GPU)")
    data_dir: str | None = option(None, "where dataset files are (default: $WORKBENCH_DATA or "
                                  "~/.cache/workbench/data); image-folder's images", flag="--data-dir",
                                  form="data", metavar="DIR")
    out: str | None = option(None, "run folder (default: a new folder in the runs home, $WORKBENCH_RUNS)",
                             flag="--out", metavar="DIR")
    resume: str | None = option(None, "continue RUN (a name from `workbench runs`, a folder or a .pt file): its "
                                "settings and folder, unless other options say otherwise", flag="--resume",
                                metavar="RUN")
    from_run: str | None = option(None, "a new run with RUN's settings (a name from `workbench runs` or a folder), "
                                  "the options given here changed, from fresh initial weights", flag="--from",
                                  metavar="RUN")
    weights_from: str | None = option(None, "start from RUN's last saved weights, with a new optimizer (fine-tune "
                                      "or branch it); RUN's settings too unless --from names another",
                                      flag="--weights-from", metavar="RUN")
    parent: dict | None = option(None, "the run this one was forked from: {\"run\": name, \"folder\": path, "
                                 "\"weights\": whether it started from that run's weights} (set by --from and "
                                 "--weights-from, and the app's f)")
    normalize: bool | None = option(None, "normalise inputs with the dataset's mean/std; None: classifiers yes, "
                                    "autoencoders no")
    log_every: int = option(10, "batches between BatchEnded events (the seeds log every 10 to 300 batches)")
    limit_batches: int | None = option(None, "train on at most this many batches per epoch (quick looks)",
                                       flag="--limit-batches", kind=int, minimum=1)
    limit_test_batches: int | None = option(None, "evaluate on at most this many test batches")
    test_batch_size: int = option(1000, "batch size for evaluation (no gradients, so larger is fine)",
                                  flag="--test-batch-size", kind=int, minimum=1, metavar="N")
    samples: int = option(32, "test images recorded each epoch for the image views (fewer for large images)")
    layer_stats: int | None = option(None, "layer statistics (weight and gradient norms, update-to-weight "
                                     "ratios, weight histograms, dead and saturated units) every N batches and at "
                                     "each epoch's last batch; 0: the epoch's last batch only; off unless given "
                                     "(the app's Layers tab also turns them on while it is shown)",
                                     flag="--layer-stats", kind=int, minimum=0, metavar="N")
    download: bool = option(True, "never try to download a missing dataset", flag="--no-download", kind=bool)
    amp: str = option("off", "mixed precision: bf16 (CPUs and GPUs) or fp16 (CUDA, with a gradient scaler); changes "
                      "the numbers a little, so off by default", flag="--amp", choices=("off", "bf16", "fp16"))
    fused_adam: bool = option(False, "Adam in one fused kernel instead of a loop over the parameters: 1.2-1.8x the "
                              "steps on a 2-core CPU for mlp-wide; its rounding differs in the last bits (SGD is "
                              "fused on a CPU anyway, with the same numbers)", flag="--fused-adam", kind=bool)
    channels_last: bool = option(False, "convolutions on channels-last (NHWC) tensors on a CPU too (on a GPU they "
                                 "always are): 1.3x for cnn-pool's training on 2 cores, but the rounding differs and "
                                 "the difference grows over training", flag="--channels-last", kind=bool)
    compile: bool = option(False, "torch.compile the model: the first batches wait for the compile (cached for "
                           "later runs); same numbers up to float rounding", flag="--compile", kind=bool)
    flush_denormal: bool = option(True, "on a CPU, treat denormal floats (below 1e-38) as zero: tiny gradients "
                                  "otherwise make later epochs up to 2x slower than the first; --no-flush-denormal "
                                  "keeps them", flag="--no-flush-denormal", kind=bool)
    fast_mlp: bool = option(True, "take every step through autograd. By default, on a CPU, a plain MLP's step "
                            "(flatten, Linear and ReLU layers, cross-entropy) is taken by hand with the kernels "
                            "autograd would call, minus its bookkeeping: 1.2-1.4x the training speed, the same "
                            "numbers bit for bit", flag="--no-fast-mlp", kind=bool)
    threads: int | None = option(None, "CPU threads for torch's kernels (default: torch's, one per core); a sweep "
                                 "running trials side by side gives each its share of the cores", flag="--threads",
                                 kind=int, minimum=1)
    nproc_per_node: int = option(1, "processes on this machine, under torchrun: one per GPU (or per CPU slot with "
                                 "gloo); --batch-size stays the global batch", flag="--nproc-per-node", kind=int,
                                 minimum=1, form="procs")
    nnodes: int = option(1, "machines in the job (torchrun's --nnodes)", flag="--nnodes", kind=int, minimum=1)
    node_rank: int = option(0, "this machine's rank in the job, 0 to nnodes-1; rank 0's machine holds the run",
                            flag="--node-rank", kind=int)
    rdzv_endpoint: str | None = option(None, "host:port where the machines of a job meet (torchrun's "
                                       "--rdzv-endpoint); not needed on one machine", flag="--rdzv-endpoint",
                                       metavar="HOST:PORT")
    dist_backend: str = option("auto", "torch.distributed backend: nccl for GPUs, gloo for CPUs", flag="--dist-backend",
                               choices=("auto", "nccl", "gloo"))
    extra: dict = option(help="free-form settings a dataset or model may read (e.g. synthetic sizes)", factory=dict)

    @classmethod
    def options(cls) -> list[tuple[str, dict]]:
        """(field name, metadata) of the fields people set on the command line or in the form."""
        return [(f.name, dict(f.metadata)) for f in dataclasses.fields(cls) if f.metadata.get("flag")
                or f.metadata.get("form")]

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        """A config from a saved dict (config.json, request.json); keys this version does not know are
        dropped."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    @classmethod
    def forked(cls, saved: dict, folder: str, weights: bool = False) -> "RunConfig":
        """A new run with a run's saved settings (the app's f): a new folder, no resume, its parent recorded.
        The model it names is the folder's word: build it only as trainers.models.trusted_model allows."""
        name = str(folder).rstrip("/").rsplit("/", 1)[-1]
        return cls.from_dict({**saved, "out": None, "resume": None, "from_run": None,
                              "weights_from": folder if weights else None,
                              "parent": {"run": name, "folder": str(folder), "weights": weights}})

    def with_defaults(self, defaults: dict) -> "RunConfig":
        """Fill unset fields from a model's defaults, then the global ones."""
        base = {"epochs": 5, "batch_size": DEFAULT_BATCH_SIZE, "optimizer": "adam", "lr": 1e-3, "momentum": 0.0,
                "weight_decay": 0.0, "init": "default", "normalize": True}
        base.update(defaults)
        changes = {k: v for k, v in base.items() if getattr(self, k, None) is None and hasattr(self, k)}
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        """Raise ConfigError with one sentence for the first value that cannot work."""

        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        if self.epochs is not None:
            need(isinstance(self.epochs, int) and self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}.")
        if self.batch_size is not None and self.batch_size != AUTO:
            need(isinstance(self.batch_size, int) and not isinstance(self.batch_size, bool),
                 f"batch size must be a whole number or auto, got {str(self.batch_size)[:40]!r}.")
            need(self.batch_size >= 1, f"batch size must be at least 1, got {self.batch_size}.")
        need(self.batch_size != AUTO or self.nproc_per_node * self.nnodes == 1,
             "--batch-size auto measures one process's batch on one GPU; with several processes give --batch-size N "
             "(the global batch).")
        if self.optimizer is not None:
            need(self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}.")
        if self.lr is not None:
            need(math.isfinite(self.lr) and self.lr > 0, f"learning rate must be a positive number, got {self.lr}.")
        if self.momentum is not None:
            need(math.isfinite(self.momentum) and 0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum}.")
        if self.weight_decay is not None:
            need(math.isfinite(self.weight_decay) and self.weight_decay >= 0,
                 f"weight decay must be zero or positive, got {self.weight_decay}.")
        need(isinstance(self.seed, int) and not isinstance(self.seed, bool) and 0 <= self.seed <= MAX_SEED,
             f"seed must be a whole number from 0 to {MAX_SEED}, got {str(self.seed)[:40]}.")
        need(self.data_seed is None or (isinstance(self.data_seed, int) and not isinstance(self.data_seed, bool)
                                        and 0 <= self.data_seed <= MAX_SEED),
             f"--data-seed must be a whole number from 0 to {MAX_SEED}, got {str(self.data_seed)[:40]}.")
        need(self.init is None or self.init in INITS, f"init must be one of {', '.join(INITS)}, got {self.init!r}.")
        need(self.device in DEVICES or re.fullmatch(r"cuda:\d+", self.device) is not None,
             f"device must be one of {', '.join(DEVICES)} (or cuda:N), got {self.device!r}.")
        if self.threads is not None:
            need(isinstance(self.threads, int) and not isinstance(self.threads, bool) and self.threads >= 1,
                 f"--threads must be at least 1, got {self.threads!r}.")
        need(self.log_every >= 1, f"log_every must be at least 1, got {self.log_every}.")
        need(self.test_batch_size >= 1, f"test batch size must be at least 1, got {self.test_batch_size}.")
        if self.limit_batches is not None:
            need(self.limit_batches >= 1, f"limit_batches must be at least 1, got {self.limit_batches}.")
        if self.layer_stats is not None:
            need(isinstance(self.layer_stats, int) and not isinstance(self.layer_stats, bool)
                 and self.layer_stats >= 0,
                 f"--layer-stats takes a number of batches, 0 or more (0: each epoch's end), got {self.layer_stats!r}.")
        for item in self.layer_init:
            parse_layer_init(item)
        need(all(isinstance(n, str) and n.strip() for n in self.freeze), "--freeze takes a layer's name.")
        need(self.amp in ("off", "bf16", "fp16"), f"amp must be off, bf16 or fp16, got {self.amp!r}.")
        need(self.nproc_per_node >= 1 and self.nnodes >= 1, "--nproc-per-node and --nnodes must be at least 1.")
        need(0 <= self.node_rank < self.nnodes, f"--node-rank must be from 0 to {self.nnodes - 1}, got {self.node_rank}.")
        need(self.nnodes == 1 or bool(self.rdzv_endpoint),
             "a job on several machines needs --rdzv-endpoint HOST:PORT, the same on every machine.")

    @property
    def order_seed(self) -> int:
        """What seeds the data order and held-out splits: --data-seed, else --seed."""
        return self.seed if self.data_seed is None else self.data_seed

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
