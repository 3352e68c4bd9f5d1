"""K models of one architecture trained as one: their parameters stacked along a new leading dimension, every
model fed the same batch (a sweep's group of trials, trainers.train.group).

Each parameter lives once, in a stacked tensor `[K, *shape]`; model k's own Parameter objects are views of slice
k (`p.data = stacked[k]`), so everything that reads a model (evaluation probes, checkpoints, parameter tables)
sees its current weights with no copy, and its optimizer's state stays keyed by the same Parameters.

A step is computed one of two ways:
- a plain MLP on a CPU (flatten, Linear, ReLU, cross-entropy: trainers.train.mlpstep.linear_chain) by hand, as
  MLPStep does for one model: the first layer's product for all K models is one matrix product of the shared
  batch with the K weight matrices side by side, the later ones batched products (bmm), the backward pass
  the same kernels in reverse, into buffers kept from step to step;
- anything else the model's own graph (torch.fx) run with each operation on all K models at once: a
  convolution of the shared input is one convolution with K times the output channels, later ones grouped
  convolutions (groups=K) on the K models' channels side by side, in channels-last memory (a max pooling on
  it is many times faster on a CPU); a Linear is a batched product; autograd takes the backward pass.
An operation the graph does not know (or a forward that is not a graph) makes the models ungroupable, with the
reason in words: they train one process each.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .mlpstep import linear_chain


class Ungroupable(Exception):
    """Why these models cannot train as one stacked model, in words ("its BatchNorm layers keep ...")."""


def why_ungroupable(model: nn.Module) -> str | None:
    """A reason read off the model alone (no trace): running statistics or other buffers, randomness."""
    norms = sorted({type(m).__name__ for m in model.modules() if isinstance(m, nn.modules.batchnorm._NormBase)})
    if norms:
        return f"its {', '.join(norms)} layers keep running statistics, which a stacked model cannot share"
    if any(True for _ in model.buffers()):
        return "it keeps buffers beside its parameters, which a stacked model cannot share"
    drop = [type(m).__name__ for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0]
    if drop:
        return f"its {drop[0]} draws random masks, which trials trained together would share"
    return None


# --------------------------------------------------------------------------------------------- values

@dataclass
class V:
    """A value in the stacked graph: `shared` [B, ...] (the same for every model: the input), `kb` [K, B, ...]
    (model first), or `chan` [B, K*C, H, W] (image maps, each model's C channels side by side)."""

    t: torch.Tensor
    kind: str


def _kb(v: V, k: int) -> torch.Tensor:
    if v.kind == "kb":
        return v.t
    if v.kind == "shared":
        return v.t.unsqueeze(0).expand(k, *v.t.shape)
    b, kc, h, w = v.t.shape
    return v.t.reshape(b, k, kc // k, h, w).transpose(0, 1)


def _chan(v: V, k: int, channels_last: bool) -> torch.Tensor:
    if v.kind == "chan":
        return v.t
    t = _kb(v, k)  # [K, B, C, H, W]
    kk, b, c, h, w = t.shape
    t = t.transpose(0, 1).reshape(b, kk * c, h, w)
    return t.contiguous(memory_format=torch.channels_last) if channels_last else t.contiguous()


UNARY = {torch.relu, F.relu, torch.sigmoid, F.sigmoid, torch.tanh, F.tanh, F.gelu, F.silu, F.elu, F.leaky_relu,
         F.softplus, F.hardtanh, F.relu6, torch.nn.functional.mish}
UNARY_MODULES = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.SiLU, nn.ELU, nn.LeakyReLU, nn.Softplus, nn.Hardtanh,
                 nn.ReLU6, nn.Mish, nn.Identity)
UNARY_METHODS = {"relu", "sigmoid", "tanh"}
POOLS = {F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d, F.adaptive_max_pool2d, torch.max_pool2d,
}
POOL_MODULES = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
IM2COL_LIMIT = 1 << 25  # patches (floats) of a shared-input convolution taken as one product; more: conv2d
SOFTMAX = {F.log_softmax: "log_softmax", F.softmax: "softmax", torch.log_softmax: "log_softmax",
           torch.softmax: "softmax"}


class StackedNet:
    """`models` (K of one architecture, on one device) as one; see the module's doc."""

    def __init__(self, models: list[nn.Module], input_shape: tuple[int, ...], *, loss: str, device: torch.device,
                 fast_mlp: bool = True) -> None:
        if not models:
            raise Ungroupable("no models")
        first = models[0]
        reason = why_ungroupable(first)
        if reason:
            raise Ungroupable(reason)
        self.models = list(models)
        self.k = len(models)
        self.loss = loss
        self.device = device
        self.input_shape = tuple(input_shape)
        self.channels_last = True
        named = [dict(m.named_parameters()) for m in models]
        names = list(named[0])
        if any(list(n) != names or any(n[x].shape != named[0][x].shape for x in names) for n in named[1:]):
            raise Ungroupable("the trials' models differ in their parameters' names or shapes")
        self.names = names
        self.trainable = [n for n in names if named[0][n].requires_grad]
        self.param_of = {id(p): n for n, p in first.named_parameters()}
        with torch.no_grad():
            self.stacked = {n: torch.stack([named[j][n].detach() for j in range(self.k)]).contiguous()
                            .requires_grad_(named[0][n].requires_grad) for n in names}
        self.bind()
        self.chain = None
        if fast_mlp and loss == "cross_entropy" and device.type == "cpu" and \
                all(p.dtype == torch.float32 for p in self.stacked.values()):
            linears = linear_chain(first, self.input_shape)
            if linears is not None:
                self.chain = [(self.param_of[id(m.weight)], self.param_of[id(m.bias)] if m.bias is not None else None)
                              for m in linears]
                used = [n for pair in self.chain for n in pair if n is not None]
                if len(used) != len(set(used)):  # a Parameter two layers share: its gradients add (autograd does)
                    self.chain = None
        self.graph = None
        if self.chain is None:
            try:
                self.graph = torch.fx.symbolic_trace(first).graph
            except Exception as err:  # noqa: BLE001 - a forward fx cannot follow is not a graph we can stack
                raise Ungroupable(f"its forward is not a plain graph of operations ({type(err).__name__})") from None
            self.modules = dict(first.named_modules())
            self._check_graph()
        self._buffers: dict[int, tuple] = {}
        self.one = torch.ones((), device=device)

    # -- parameters ------------------------------------------------------------------------------------

    def bind(self) -> None:
        """Point every model's Parameters at its slice of the stacked tensors."""
        for j, m in enumerate(self.models):
            for n, p in m.named_parameters():
                p.data = self.stacked[n].detach()[j]

    def keep(self, rows: list[int]) -> None:
        """Only the models at `rows` (indices into the current stack) go on: the stack shrinks to them."""
        index = torch.tensor(rows, device=self.device)
        with torch.no_grad():
            self.stacked = {n: t.detach().index_select(0, index).requires_grad_(t.requires_grad)
                            for n, t in self.stacked.items()}
        self.models = [self.models[r] for r in rows]
        self.k = len(rows)
        self._buffers.clear()
        self.bind()

    def grads(self) -> dict[str, torch.Tensor]:
        return {n: self.stacked[n].grad for n in self.trainable}

    # -- one step ----------------------------------------------------------------------------------------

    def step(self, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward of every model on the same batch: (per-model mean losses [K], outputs [K, B, ...]);
        each stacked parameter's .grad holds the K models' gradients."""
        if self.chain is not None:
            return self._mlp_step(x, target)
        for n in self.trainable:
            self.stacked[n].grad = None
        out = self._run(x)
        losses = self.losses(out, target)
        losses.sum().backward()  # model k's loss depends on its own slice alone: each slice gets its own gradient
        return losses.detach(), out.detach()

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Every model's output for `x` (no gradients): [K, B, ...]."""
        if self.chain is not None:
            return self._mlp_forward(x)
        return self._run(x)

    def losses(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Each model's mean loss over the batch, [K]."""
        k, b = out.shape[0], out.shape[1]
        if self.loss == "mse":
            return (out.float() - target.unsqueeze(0)).pow(2).reshape(k, -1).mean(1)
        flat = out.float().reshape(k * b, -1)
        fn = F.cross_entropy if self.loss == "cross_entropy" else F.nll_loss
        return fn(flat, target.repeat(k), reduction="none").view(k, b).mean(1)

    # -- the graph, each operation on all models at once ---------------------------------------------------

    def _check_graph(self) -> None:
        """Refuse, in words, a graph with an operation `_node` does not know; then check the stacked forward
        against each model's own on a small batch."""
        known_fn = UNARY | POOLS | set(SOFTMAX) | {torch.flatten, operator.add, torch.add, operator.mul, torch.mul,
                                                  operator.sub, torch.matmul, torch.mm}
        for node in self.graph.nodes:
            if node.op == "call_module":
                m = self.modules[node.target]
                if not isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Flatten, *UNARY_MODULES,
                                      *POOL_MODULES, nn.Dropout, nn.LogSoftmax, nn.Softmax)):
                    raise Ungroupable(f"its {type(m).__name__} layer has no stacked form here")
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.padding_mode != "zeros":
                    raise Ungroupable(f"its {type(m).__name__} pads with {m.padding_mode}")
            elif node.op == "call_function" and node.target not in known_fn:
                raise Ungroupable(f"its forward calls {getattr(node.target, '__name__', node.target)}, which has "
                                  f"no stacked form here")
            elif node.op == "call_method" and node.target not in UNARY_METHODS | {"reshape", "view", "flatten",
                                                                                  "mm", "matmul", "log_softmax",
                                                                                  "softmax", "add"}:
                raise Ungroupable(f"its forward calls .{node.target}(), which has no stacked form here")
            elif node.op == "get_attr" and node.target not in self.stacked:
                raise Ungroupable(f"its forward reads {node.target}, which is not a parameter")
        probe = torch.randn(2, *self.input_shape, device=self.device)
        try:
            with torch.no_grad():
                got = self._run(probe)
                want = torch.stack([m(probe) for m in self.models])
        except Ungroupable:
            raise
        except Exception as err:  # noqa: BLE001 - a pattern the stacked graph does not follow
            raise Ungroupable(f"its forward does not stack ({type(err).__name__}: {str(err)[:80]})") from None
        if got.shape != want.shape or not torch.allclose(got, want, rtol=1e-3, atol=1e-4):
            raise Ungroupable("its stacked forward does not give each model's own outputs")

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        env: dict = {}
        out = None
        for node in self.graph.nodes:
            if node.op == "placeholder":
                env[node] = V(x, "shared")
            elif node.op == "output":
                out = env[node.args[0]]
                break
            else:
                env[node] = self._node(node, env)
        return _kb(out, self.k) if out.kind != "kb" else out.t

    def _arg(self, a, env):
        return env[a] if isinstance(a, torch.fx.Node) else a

    def _param(self, name: str) -> torch.Tensor:
        return self.stacked[name]

    def _node(self, node, env) -> V:
        args = [self._arg(a, env) for a in node.args]
        kwargs = {key: self._arg(v, env) for key, v in node.kwargs.items()}
        if node.op == "get_attr":
            return V(self._param(node.target), "param")
        if node.op == "call_module":
            m = self.modules[node.target]
            v = args[0]
            if isinstance(m, nn.Conv2d):
                return self._conv(m, v)
            if isinstance(m, nn.ConvTranspose2d):
                return self._conv_transpose(m, v)
            if isinstance(m, nn.Linear):
                return self._linear(v, self.param_of[id(m.weight)],
                                    self.param_of[id(m.bias)] if m.bias is not None else None)
            if isinstance(m, nn.Flatten):
                return self._flatten(v, m.start_dim, m.end_dim)
            if isinstance(m, POOL_MODULES):
                return self._pool(lambda t: m(t), v)
            if isinstance(m, (nn.LogSoftmax, nn.Softmax)):
                fn = torch.log_softmax if isinstance(m, nn.LogSoftmax) else torch.softmax
                return self._softmax(fn, v, m.dim)
            if isinstance(m, nn.Dropout):  # p == 0 (why_ungroupable refused the others)
                return v
            return V(m(v.t), v.kind)  # elementwise
        if node.op == "call_method":
            name, v = node.target, args[0]
            if name in UNARY_METHODS:
                return V(getattr(v.t, name)(), v.kind)
            if name == "flatten":
                return self._flatten(v, *(args[1:] or [0]), **kwargs)
            if name in ("reshape", "view"):
                return self._reshape(v, args[1:])
            if name in ("mm", "matmul"):
                return self._matmul(v, args[1])
            if name == "add":
                return self._binary(operator.add, v, args[1])
            if name in ("log_softmax", "softmax"):
                fn = torch.log_softmax if name == "log_softmax" else torch.softmax
                return self._softmax(fn, v, args[1] if len(args) > 1 else kwargs.get("dim"))
        if node.op == "call_function":
            fn = node.target
            if fn in UNARY:
                v = args[0]
                return V(fn(v.t, *args[1:], **kwargs), v.kind)
            if fn in POOLS:
                return self._pool(lambda t: fn(t, *args[1:], **kwargs), args[0])
            if fn is torch.flatten:
                return self._flatten(args[0], *args[1:], **kwargs)
            if fn in SOFTMAX:
                fn2 = torch.log_softmax if SOFTMAX[fn] == "log_softmax" else torch.softmax
                return self._softmax(fn2, args[0], args[1] if len(args) > 1 else kwargs.get("dim"))
            if fn in (torch.matmul, torch.mm):
                return self._matmul(args[0], args[1])
            if fn in (operator.add, torch.add, operator.mul, torch.mul, operator.sub):
                op = {torch.add: operator.add, torch.mul: operator.mul}.get(fn, fn)
                return self._binary(op, args[0], args[1])
        raise Ungroupable(f"its forward's {node.op} {node.target} has no stacked form here")

    def _conv(self, m: nn.Conv2d, v: V) -> V:
        k = self.k
        w = self._param(self.param_of[id(m.weight)])  # [K, out, in/groups, kh, kw]
        b = self._param(self.param_of[id(m.bias)]) if m.bias is not None else None
        w2 = w.reshape(k * w.shape[1], *w.shape[2:])
        b2 = b.reshape(-1) if b is not None else None
        if v.kind == "shared":  # the same input for every model: one product with K times the output channels
            out = self._shared_conv(m, v.t, w2, b2)
        else:
            out = F.conv2d(_chan(v, k, self.channels_last), w2, b2, m.stride, m.padding, m.dilation, m.groups * k)
        if self.channels_last:
            out = out.contiguous(memory_format=torch.channels_last)
        return V(out, "chan")

    def _shared_conv(self, m: nn.Conv2d, x: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor | None) -> torch.Tensor:
        """A convolution of the shared input as one matrix product of its patches (im2col) with the K models'
        filters side by side: the product comes out channels-last, where a convolution with one input channel
        comes out NCHW (and turning K times its channels to channels-last is a slow copy)."""
        n, c, height, width = x.shape
        kh, kw = m.kernel_size
        (sh, sw), (ph, pw) = m.stride, m.padding if isinstance(m.padding, tuple) else (0, 0)
        oh, ow = (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1
        if m.groups != 1 or m.dilation != (1, 1) or isinstance(m.padding, str) or not self.channels_last \
                or n * oh * ow * c * kh * kw > IM2COL_LIMIT:
            return F.conv2d(x, w2, b2, m.stride, m.padding, m.dilation, m.groups)
        if ph or pw:
            x = F.pad(x, (pw, pw, ph, ph))
        cols = x.unfold(2, kh, sh).unfold(3, kw, sw).permute(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw)
        flat = w2.reshape(w2.shape[0], -1)
        out = torch.addmm(b2, cols, flat.t()) if b2 is not None else torch.mm(cols, flat.t())
        return out.view(n, oh, ow, -1).permute(0, 3, 1, 2)  # [n, K*out, oh, ow], channels-last in memory

    def _conv_transpose(self, m: nn.ConvTranspose2d, v: V) -> V:
        k = self.k
        w = self._param(self.param_of[id(m.weight)])  # [K, in, out/groups, kh, kw]
        b = self._param(self.param_of[id(m.bias)]) if m.bias is not None else None
        x = _chan(v, k, self.channels_last) if v.kind != "shared" else \
            _chan(V(v.t.unsqueeze(0).expand(k, *v.t.shape), "kb"), k, self.channels_last)
        out = F.conv_transpose2d(x, w.reshape(k * w.shape[1], *w.shape[2:]), b.reshape(-1) if b is not None else None,
                                 m.stride, m.padding, m.output_padding, m.groups * k, m.dilation)
        if self.channels_last:
            out = out.contiguous(memory_format=torch.channels_last)
        return V(out, "chan")

    def _linear(self, v: V, weight: str, bias: str | None) -> V:
        k = self.k
        w = self._param(weight)  # [K, out, in]
        b = self._param(bias) if bias is not None else None
        if v.kind == "shared" and v.t.dim() == 2:  # one product with the K weight matrices side by side
            w2 = w.reshape(k * w.shape[1], w.shape[2])
            z = torch.addmm(b.reshape(-1), v.t, w2.t()) if b is not None else torch.mm(v.t, w2.t())
            return V(z.view(v.t.shape[0], k, w.shape[1]).transpose(0, 1), "kb")
        t = _kb(v, k)
        flat = t.reshape(k, -1, t.shape[-1])
        z = torch.baddbmm(b.unsqueeze(1), flat, w.transpose(1, 2)) if b is not None else torch.bmm(flat, w.transpose(1, 2))
        return V(z.reshape(*t.shape[:-1], w.shape[1]), "kb")

    def _matmul(self, v: V, other) -> V:
        """x.mm(W) with W a parameter (a hand-written layer's [in, out] weight)."""
        if not isinstance(other, V) or other.kind != "param":
            raise Ungroupable("its forward multiplies two activations")
        t = _kb(v, self.k)
        flat = t.reshape(self.k, -1, t.shape[-1])
        return V(torch.bmm(flat, other.t).reshape(*t.shape[:-1], other.t.shape[-1]), "kb")

    def _binary(self, op, a, b) -> V:
        k = self.k
        if isinstance(a, V) and isinstance(b, V):
            if "param" in (a.kind, b.kind):
                act, par = (a, b) if b.kind == "param" else (b, a)
                t = _kb(act, k)
                p = par.t.reshape(k, *([1] * (t.dim() - par.t.dim())), *par.t.shape[1:])
                return V(op(t, p) if act is a else op(p, t), "kb")
            if a.kind == b.kind:
                return V(op(a.t, b.t), a.kind)
            if "chan" in (a.kind, b.kind):
                return V(op(_chan(a, k, self.channels_last), _chan(b, k, self.channels_last)), "chan")
            return V(op(_kb(a, k), _kb(b, k)), "kb")
        if isinstance(a, V):
            return V(op(a.t, b), a.kind)
        if isinstance(b, V):
            return V(op(a, b.t), b.kind)
        raise Ungroupable("its forward does arithmetic on plain numbers")

    def _pool(self, fn, v: V) -> V:
        if v.kind in ("chan", "shared"):
            return V(fn(v.t), v.kind)
        t = v.t  # [K, B, C, H, W]
        out = fn(t.reshape(-1, *t.shape[2:]))
        return V(out.reshape(t.shape[0], t.shape[1], *out.shape[1:]), "kb")

    def _softmax(self, fn, v: V, dim) -> V:
        if dim is None:
            raise Ungroupable("its softmax has no dim")
        if v.kind == "shared":
            return V(fn(v.t, dim), "shared")
        t = _kb(v, self.k)
        return V(fn(t, dim + 1 if dim >= 0 else dim), "kb")

    def _flatten(self, v: V, start_dim: int = 0, end_dim: int = -1) -> V:
        if v.kind == "shared":
            return V(torch.flatten(v.t, start_dim, end_dim), "shared")
        if start_dim != 1 or end_dim != -1:
            raise Ungroupable("its forward flattens other than from the first dimension on")
        t = _kb(v, self.k)
        return V(t.reshape(t.shape[0], t.shape[1], -1), "kb")

    def _reshape(self, v: V, shape) -> V:
        shape = list(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else list(shape)
        if v.kind == "shared":
            return V(v.t.reshape(*shape), "shared")
        if len(shape) == 2 and shape[0] == -1 and isinstance(shape[1], int):  # x.reshape(-1, features)
            t = _kb(v, self.k)
            return V(t.reshape(t.shape[0], t.shape[1], shape[1]), "kb")
        raise Ungroupable(f"its forward reshapes to {shape}, which has no stacked form here")

    # -- a plain MLP by hand -----------------------------------------------------------------------------

    def _mlp_buffers(self, n: int) -> tuple:
        key = n
        if key not in self._buffers:
            k = self.k
            outs = [self.stacked[w].shape[1] for w, _ in self.chain]
            self._buffers[key] = [torch.empty(k, n, o) for o in outs[:-1]]  # each hidden layer's ReLU output
        return self._buffers[key]

    def _mlp_forward(self, x: torch.Tensor, hs: list | None = None) -> torch.Tensor:
        k, n = self.k, x.shape[0]
        h = x.reshape(n, -1)
        last = len(self.chain) - 1
        z = None
        for i, (wn, bn) in enumerate(self.chain):
            w = self.stacked[wn].detach()
            b = self.stacked[bn].detach() if bn is not None else None
            if i == 0:  # the shared batch times the K weight matrices side by side: one product
                w2 = w.view(k * w.shape[1], w.shape[2])
                z = torch.addmm(b.view(-1), h, w2.t()) if b is not None else torch.mm(h, w2.t())
                z = z.view(n, k, w.shape[1]).transpose(0, 1)
            else:
                z = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2)) if b is not None else \
                    torch.bmm(h, w.transpose(1, 2))
            if i < last:
                h = torch.clamp_min(z, 0, out=hs[i]) if hs is not None else torch.clamp_min(z, 0)
        return z

    @torch.no_grad()
    def _mlp_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """MLPStep's kernels for K models: addmm/bmm forward, log_softmax and nll_loss, then mm/bmm for the weight
        and input gradients, sum for the biases, threshold_backward for the ReLUs."""
        k, n = self.k, x.shape[0]
        for name in self.trainable:
            if self.stacked[name].grad is None:
                self.stacked[name].grad = torch.zeros_like(self.stacked[name])
        hs = self._mlp_buffers(n)
        z = self._mlp_forward(x, hs)  # [K, n, classes]
        classes = z.shape[-1]
        logp = torch.log_softmax(z, -1).view(k * n, classes)
        targets = y.repeat(k)
        nll, _ = torch.ops.aten.nll_loss_forward(logp, targets, None, 0, -100)  # per sample
        losses = nll.view(k, n).mean(1)
        total = torch.full((), float(n), device=x.device)  # each model's mean is over its own n samples
        g = torch.ops.aten.nll_loss_backward(self.one, logp, targets, None, 1, -100, total)
        g = torch.ops.aten._log_softmax_backward_data(g, logp, 1, logp.dtype).view(k, n, classes)
        inputs = [x.reshape(n, -1)] + hs
        for i in range(len(self.chain) - 1, -1, -1):
            wn, bn = self.chain[i]
            w = self.stacked[wn]
            gw = w.grad
            if bn is not None:
                torch.sum(g, 1, out=self.stacked[bn].grad)
            if i == 0:  # the shared input: one product for all K models' weight gradients
                gt = g.transpose(1, 2).reshape(k * w.shape[1], n)
                torch.mm(gt, inputs[0], out=gw.view(k * w.shape[1], w.shape[2]))
            else:
                torch.bmm(g.transpose(1, 2), inputs[i], out=gw)
                dh = torch.bmm(g, w.detach())
                g = torch.ops.aten.threshold_backward(dh, inputs[i], 0)
        return losses, z
