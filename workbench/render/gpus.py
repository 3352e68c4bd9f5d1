"""The GPU view as lines of text: `workbench gpus` prints them, the app's g panel shows them. One line per GPU
(its memory as a bar and in GB, utilisation, temperature, power), then one per process on it: a workbench run
by name, another process by user and command."""

from __future__ import annotations

import time

from rich.text import Text

from trainers.devices import gb, short_name
from trainers.gpus import GpuRow, Survey, no_gpu_sentence

BAR = 10  # cells of the memory bar


def gigabytes(n: int | None) -> str:
    return "?" if n is None else gb(n, unit=False)


def bar(used: int, total: int, width: int = BAR) -> str:
    filled = round(width * used / total) if total else 0
    return "█" * min(width, filled) + "░" * (width - min(width, filled))


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(0, width - 1)] + "…"


def gpu_lines(view: Survey, width: int = 80) -> list[Text]:
    """The survey as lines of at most `width` cells."""
    report = view.report
    if not report.gpus:
        sentence = no_gpu_sentence(report) if report.reason or not report.driver else (
            f"No GPU here: NVIDIA driver {report.driver} answered, listing no GPU. Runs train on the CPU.")
        return [Text(sentence)]
    names = max(8, min(22, max(len(short_name(r.gpu.name)) for r in view.rows)))
    lines = [Text(f"{'GPU':<7} {'name':<{names}}  {'memory (GB)':<{BAR + 12}}  {'use':>4}  {'temp':>4}  power",
                  style="bold", no_wrap=True, overflow="ellipsis")]
    for row in view.rows:
        lines.append(_gpu_line(row, names))
        lines.extend(_process_lines(row, width))
    when = time.strftime("%H:%M:%S", time.localtime(view.when))
    lines.append(Text(f"driver {report.driver or '?'} · CUDA {report.cuda or '?'} · {report.library} · {when}",
                      style="dim", no_wrap=True, overflow="ellipsis"))
    return lines


def _gpu_line(row: GpuRow, names: int) -> Text:
    g = row.gpu
    label = f"cuda:{row.cuda}" if row.cuda is not None else f"({g.index})"  # (n): hidden by CUDA_VISIBLE_DEVICES
    memory = f"{gigabytes(g.memory_used):>4}/{gigabytes(g.memory_total)}"
    use = f"{g.utilization}%" if g.utilization is not None else "-"
    temp = f"{g.temperature}°C" if g.temperature is not None else "-"
    power = f"{g.power:.0f} W" if g.power is not None else "-"
    if g.power is not None and g.power_limit:
        power = f"{g.power:.0f}/{g.power_limit:.0f} W"
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(f"{label:<7} ", style="bold")
    line.append(f"{clip(short_name(g.name), names):<{names}}  ")
    if g.error:
        line.append(g.error, style="red")
        return line
    full = g.memory_total and g.memory_used / g.memory_total
    line.append(bar(g.memory_used, g.memory_total), style="red" if full > 0.9 else "yellow" if full > 0.5 else "green")
    line.append(f" {memory:<11}  {use:>4}  {temp:>4}  {power}")
    return line


def _process_lines(row: GpuRow, width: int) -> list[Text]:
    lines = []
    for h in sorted(row.holders, key=lambda h: (not h.run, -(h.memory or 0))):
        memory = f"{gigabytes(h.memory)} GB" if h.memory is not None else ""
        if h.run:
            who, style = f"run {h.run}", "bold"
        elif h.user:
            who, style = f"{h.user}: {h.command or '?'}", ""
        else:
            who, style = "not visible here (another container's process)", "dim"
        room = max(10, width - 2 - 8 - 2 - 9)
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f"  {h.pid:>8}  ", style="dim")
        line.append(f"{clip(who, room):<{room}}", style=style)
        line.append(f" {memory:>8}")
        lines.append(line)
    for name in row.runs:
        lines.append(Text(f"  {'?':>8}  {clip(f'run {name} (its process is not listed by NVML here)', width - 12)}",
                          style="bold", no_wrap=True, overflow="ellipsis"))
    if not lines:
        lines.append(Text(f"  {'':>8}  no processes", style="dim"))
    return lines
