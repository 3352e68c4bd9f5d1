"""The training step of a plain MLP, taken by hand on a CPU: the same floats, x1.2-1.4 the training speed.

A model that torch.fx traces as flatten -> Linear -> ReLU -> ... -> Linear (mlp, mlp-deep, mlp-wide), trained
with cross-entropy on a CPU, spends much of a small step outside its matrix products: autograd's graph,
a fresh gradient tensor per parameter per step (page faults for the big ones), the optimizer's Python.
`MLPStep` calls the very ATen kernels autograd would call for that chain, in the same order and with the
same layouts (addmm forward; log_softmax and nll_loss; mm for the weight and input gradients, sum for the
bias, threshold_backward for the ReLU), into buffers kept from step to step, then SGD's fused kernel
directly. Every weight, gradient and momentum buffer comes out bit for bit what autograd and
torch.optim.SGD give (tests/trainers/test_mlp_step.py). Anything else trains through autograd as before,
and `fast_mlp=False` (`--no-fast-mlp`) asks for autograd always.
"""

from __future__ import annotations

import torch
from torch import nn

LEAVES = (nn.Linear, nn.ReLU, nn.Flatten)
KNOWN = ("trainers.models.",)  # modules whose forwards are ours (the seed models'): tensor operations only


def linear_chain(model: nn.Module, input_shape: tuple[int, ...]) -> list[nn.Linear] | None:
    """The Linear layers of `model` when its forward is exactly flatten -> Linear (-> ReLU -> Linear)* on
    inputs of `input_shape` (one sample's), each layer used once, float32 weights on the CPU; else None."""
    leaves = [m for m in model.modules() if not list(m.children())]
    if not leaves or not all(type(m) in LEAVES for m in leaves) or not any(type(m) is nn.Linear for m in leaves):
        return None  # cheap: most models stop here, without tracing
    if not all(type(m) is nn.Sequential or type(m) in LEAVES or type(m).__module__.startswith(KNOWN)
               for m in model.modules()):
        return None  # a forward of someone else's may do more than fx sees (count calls, raise, print)
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception:  # noqa: BLE001 - a forward fx cannot follow is simply not a plain chain
        return None
    modules = dict(model.named_modules())
    chain, prev = [], None
    for node in graph.nodes:
        if node.op == "placeholder":
            if prev is not None:
                return None  # a second input
        elif node.op == "output":
            if node.args[0] is not prev:
                return None
            break
        else:
            if not node.args or node.args[0] is not prev or len(prev.users) != 1:
                return None  # not a chain: a branch, a skip connection, a value used twice
            kind = _kind(node, modules)
            if kind is None:
                return None
            chain.append((kind, node))
        prev = node
    kinds = [k for k, _ in chain]
    layers = len(kinds) // 2  # flatten, then linear-relu pairs, then the last linear
    if kinds != ["flatten"] + ["linear", "relu"] * (layers - 1) + ["linear"]:
        return None
    linears = [modules[node.target] for kind, node in chain if kind == "linear"]
    width = chain[0][1].args[2] if chain[0][1].target in ("reshape", "view") else None
    features = 1
    for d in input_shape:
        features *= int(d)
    if features != linears[0].in_features or width not in (None, features) or not _consistent(linears):
        return None
    return linears


def _kind(node, modules) -> str | None:
    if node.op == "call_module":
        m = modules.get(node.target)
        if type(m) is nn.Linear:
            return "linear"
        if type(m) is nn.ReLU:
            return "relu"
        if type(m) is nn.Flatten and m.start_dim == 1 and m.end_dim == -1:
            return "flatten"
        return None
    if node.op == "call_function":
        if node.target in (torch.relu, nn.functional.relu) and not node.kwargs.get("inplace", False) or \
                node.target is torch.relu_:
            return "relu" if len(node.args) == 1 else None
        if node.target is torch.flatten and tuple(node.args[1:]) in ((1,), (1, -1)) and not node.kwargs:
            return "flatten"
        return None
    if node.op == "call_method":
        if node.target in ("relu", "relu_") and len(node.args) == 1:
            return "relu"
        if node.target in ("reshape", "view") and len(node.args) == 3 and node.args[1] == -1 \
                and isinstance(node.args[2], int):
            return "flatten"  # x.reshape(-1, 784): _consistent checks the width against the first layer
        if node.target == "flatten" and tuple(node.args[1:]) in ((1,), (1, -1)) and not node.kwargs:
            return "flatten"
    return None


def _consistent(linears: list[nn.Linear]) -> bool:
    if not linears or len({id(m) for m in linears}) != len(linears):
        return False  # a layer used twice (tied weights) accumulates its gradient: autograd's job
    for a, b in zip(linears, linears[1:]):
        if a.out_features != b.in_features:
            return False
    for m in linears:
        for p in m.parameters():
            if p.device.type != "cpu" or p.dtype != torch.float32 or not p.requires_grad or not p.is_contiguous():
                return False
    return True


def hand_step(model: nn.Module, optimizer: torch.optim.Optimizer, *, input_shape: tuple[int, ...], loss: str,
              device: torch.device, fast: bool = True, amp: str = "off", compiled: bool = False,
              world: int = 1) -> "MLPStep | None":
    """The hand-taken step for this model, or None where autograd must take it: another loss, a GPU,
    autocast, torch.compile, DDP, frozen or extra parameters, or a model that is not a plain chain."""
    if not fast or loss != "cross_entropy" or device.type != "cpu" or amp not in (None, "off") or compiled \
            or world != 1:
        return None
    linears = linear_chain(model, input_shape)
    if linears is None:
        return None
    params = [p for m in linears for p in m.parameters()]
    optimized = [p for g in optimizer.param_groups for p in g["params"]]
    if {id(p) for p in model.parameters()} != {id(p) for p in params} or \
            sorted(map(id, optimized)) != sorted(map(id, params)):
        return None  # the optimizer must train exactly this chain's parameters
    return MLPStep(linears, optimizer)


class MLPStep:
    """forward, cross-entropy, backward and optimizer step of a Linear/ReLU chain; see the module's doc."""

    def __init__(self, linears: list[nn.Linear], optimizer: torch.optim.Optimizer) -> None:
        self.linears, self.optimizer = linears, optimizer
        self.params = [p for m in linears for p in m.parameters()]
        self.buffers: dict[int, tuple] = {}  # batch size -> activations and gradients of that size
        self.one = torch.ones(())
        group = optimizer.param_groups[0]
        # torch.optim.SGD with its fused kernel and nothing hooked in: the kernel is called directly (its
        # Python costs a tenth of the step); any other optimizer takes its own step() on these gradients
        self.direct_sgd = (type(optimizer) is torch.optim.SGD and len(optimizer.param_groups) == 1
                           and group.get("fused") is True and not group.get("differentiable")
                           and not group.get("foreach"))

    def _buffers(self, n: int) -> tuple:
        if n not in self.buffers:
            ms = self.linears
            self.buffers[n] = ([torch.empty(n, m.out_features) for m in ms],      # z = h W^T + b
                               [torch.empty(n, m.out_features) for m in ms[:-1]],  # h = relu(z)
                               [torch.empty(n, m.in_features) for m in ms],        # dL/dh
                               [torch.empty(n, m.in_features) for m in ms])        # dL/dz
        return self.buffers[n]

    def _grads(self) -> None:
        for p in self.params:  # kept between steps, as autograd's would be after backward
            if p.grad is None:  # first step, or someone's zero_grad(set_to_none=True)
                p.grad = torch.zeros_like(p)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step on (x, y); returns the batch's mean loss and the logits, as the loop reads them."""
        self._grads()
        n = x.shape[0]
        zs, hs, dhs, gs = self._buffers(n)
        h = x.reshape(n, -1)
        acts = [h]
        last = len(self.linears) - 1
        for i, m in enumerate(self.linears):
            if m.bias is not None:  # F.linear of a 2-D input is addmm(bias, input, weight.t())
                z = torch.addmm(m.bias, h, m.weight.t(), out=zs[i])
            else:
                z = torch.mm(h, m.weight.t(), out=zs[i])
            if i < last:
                h = torch.clamp_min(z, 0, out=hs[i])  # relu's kernel
                acts.append(h)
        # F.cross_entropy is log_softmax then nll_loss (mean, ignore_index -100); backward in reverse
        logp = torch.log_softmax(z, 1)
        loss, total = torch.ops.aten.nll_loss_forward(logp, y, None, 1, -100)
        g = torch.ops.aten.nll_loss_backward(self.one, logp, y, None, 1, -100, total)
        g = torch.ops.aten._log_softmax_backward_data(g, logp, 1, logp.dtype)
        for i in range(last, -1, -1):
            m = self.linears[i]
            torch.mm(g.t(), acts[i], out=m.weight.grad)  # addmm's weight gradient, in the weight's layout
            if m.bias is not None:
                torch.sum(g, 0, out=m.bias.grad)
            if i > 0:
                dh = torch.mm(g, m.weight, out=dhs[i])
                g = torch.ops.aten.threshold_backward.grad_input(dh, acts[i], 0, grad_input=gs[i])
        if self.direct_sgd and not _hooked(self.optimizer):
            self._sgd()
        else:
            self.optimizer.step()
        return loss, z

    def _sgd(self) -> None:
        """torch.optim.SGD.step with fused=True, less its Python: the same kernel on the same tensors,
        the momentum buffers kept in the optimizer's state (checkpoints and resumes see them)."""
        opt, group = self.optimizer, self.optimizer.param_groups[0]
        momentum = group["momentum"]
        bufs, first = [], False
        if momentum != 0:  # as SGD: the first step (no buffers yet) fills them with the gradients
            bufs = [opt.state[p].get("momentum_buffer") for p in self.params]
            first = all(b is None for b in bufs)
            bufs = [torch.empty_like(p) if b is None else b for p, b in zip(self.params, bufs)]
        torch._fused_sgd_(self.params, [p.grad for p in self.params], bufs, weight_decay=group["weight_decay"],
                          momentum=momentum, lr=group["lr"], dampening=group["dampening"],
                          nesterov=group["nesterov"], maximize=group["maximize"], is_first_step=first,
                          grad_scale=None, found_inf=None)
        if momentum != 0:
            for p, buf in zip(self.params, bufs):
                opt.state[p]["momentum_buffer"] = buf


def _hooked(optimizer: torch.optim.Optimizer) -> bool:
    """Whether anything hooks optimizer steps (this one's or every optimizer's): then step() must run."""
    from torch.optim import optimizer as module

    return bool(getattr(optimizer, "_optimizer_step_pre_hooks", None) or
                getattr(optimizer, "_optimizer_step_post_hooks", None) or
                getattr(module, "_global_optimizer_pre_hooks", None) or
                getattr(module, "_global_optimizer_post_hooks", None))
