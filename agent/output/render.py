"""The terminal view of a run: each event printed with rich as it arrives.

Text that comes from the file or the model is printed as plain `Text`, never as rich markup, so a cell holding
`[bold red]...` or an instruction shows as what it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.markdown import Markdown
from rich.panel import Panel
from rich.rule import Rule
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from agent.run import events as ev
from tools.labels import safe_markdown

if TYPE_CHECKING:
    from agent.run.scenarios import ScenarioRow
from tools.verification import FLAGGED, VERDICT_LABELS
from ui.view_model import known_labels, verification_badge


class TerminalRenderer:
    """Prints events to a rich console."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self._labels: set[str] = set()  # names from the data, escaped in the summary (`tools.labels`)

    def __call__(self, event: ev.Event) -> None:
        handler = getattr(self, f"_on_{event.type}", None)
        if handler is not None:
            handler(event)

    def _on_run_started(self, event: ev.RunStarted) -> None:
        data = event.dataset
        title = Text.assemble(
            ("KPI Narrator", "bold"), "  ·  ", (event.model, "cyan"), "  ·  ", f"{event.agent} agent"
        )
        body = Text(
            f"{data.get('source')}: {data.get('segments')} segments, dimensions {', '.join(data.get('dimensions') or [])}"
            f" · metrics {', '.join(data.get('metrics') or [])} · {data.get('layout')} layout"
            + (f" · scenario {data['scenario']}" if data.get("scenario") else "")
            + f"\nQuestion: {event.question}"
        )
        self.console.print(Panel(body, title=title, title_align="left", border_style="cyan"))

    def _on_warning(self, event: ev.DataWarning) -> None:
        self.console.print(Text("warning: ", style="yellow bold") + Text(event.message, style="yellow"))

    def _on_analysis(self, event: ev.AnalysisReady) -> None:
        self._labels = known_labels(event.analysis)
        totals = event.analysis.get("totals") or {}
        pct = totals.get("pct_change")
        self.console.print(
            Text(
                f"Engine: {event.analysis.get('metric')} {totals.get('before', 0):,.2f} -> {totals.get('after', 0):,.2f} "
                f"({totals.get('abs_change', 0):+,.2f}, {'new' if pct is None else f'{pct:+.2f}%'})",
                style="dim",
            )
        )

    def _on_turn_started(self, event: ev.TurnStarted) -> None:
        self.console.print(
            Rule(Text(f"Follow-up {event.turn - 1}: {event.question}", style="bold"), style="magenta")
        )

    def _on_step_started(self, event: ev.StepStarted) -> None:
        self.console.print(Rule(f"Step {event.step}", style="cyan"))

    def _on_thought(self, event: ev.Thought) -> None:
        self.console.print(Text("Thought: ", style="bold") + Text(event.text))

    def _on_code(self, event: ev.Code) -> None:
        self.console.print(
            Panel(
                Syntax(event.code, "python", theme="monokai", word_wrap=True),
                title="Code",
                title_align="left",
                border_style="dim",
            )
        )

    def _on_observation(self, event: ev.Observation) -> None:
        self.console.print(
            Panel(Text(event.text), title="Observation", title_align="left", border_style="green")
        )

    def _on_error(self, event: ev.StepError) -> None:
        where = f"Step {event.step} error" if event.step is not None else "Run error"
        self.console.print(
            Panel(Text(event.message, style="red"), title=where, title_align="left", border_style="red")
        )

    def _on_chart(self, event: ev.Chart) -> None:
        self.console.print(
            Text(f"chart {event.index + 1}: ", style="magenta bold") + Text(event.title or "(untitled)")
        )

    def _on_plan(self, event: ev.Plan) -> None:
        self.console.print(
            Panel(
                Text(event.text),
                title=f"Plan (before step {event.step})",
                title_align="left",
                border_style="blue",
            )
        )

    def _on_managed_step(self, event: ev.ManagedStep) -> None:
        """A step of the change-log agent, indented under the analyst's step that asked it."""
        where = f"  ↳ step {event.step} · {event.agent}"
        if event.kind == "ask":
            self.console.print(Text(f"{where} asked: ", style="blue bold") + Text(event.observation or ""))
            return
        if event.kind == "plan":
            self.console.print(Text(f"{where} plan: ", style="blue bold") + Text(event.thought or ""))
            return
        body = Text()
        if event.call:
            body.append("call: ", style="bold").append(event.call + "\n")
        if event.observation:
            body.append("observation: ", style="bold").append(event.observation)
        if event.error:
            body.append("\nerror: ", style="red bold").append(event.error, style="red")
        self.console.print(
            Panel(
                body,
                title=f"{where} · its step {event.number}",
                title_align="left",
                border_style="blue",
                padding=(0, 1),
            ),
            style="",
            width=None,
        )

    def _on_step_finished(self, event: ev.StepFinished) -> None:
        tokens = ""
        if event.input_tokens is not None:
            tokens = f" · {event.input_tokens:,} input / {event.output_tokens or 0:,} output tokens"
            if event.tokens_estimated:
                tokens += " (counted locally)"
        self.console.print(Text(f"Step {event.step}: {event.duration_s:.2f} s{tokens}", style="dim"))

    def _on_final_answer(self, event: ev.FinalAnswer) -> None:
        self.console.print(Rule("Summary", style="bold green"))
        # rich prints Markdown links as live terminal hyperlinks: labels and links from the data are text.
        self.console.print(Markdown(safe_markdown(event.text, self._labels)))

    def _on_verification(self, event: ev.Verification) -> None:
        verification = {
            "checked": event.checked,
            "mismatches": event.mismatches,
            "claims": event.claims,
            "coverage": event.coverage,
            "run_status": event.run_status,
        }
        ok, sentence = verification_badge(verification, markdown=False)
        line = Text(sentence, style=f"bold {'green' if ok else 'red'}")
        if not event.claims:
            self.console.print(line)
            return
        table = Table("#", "claim", "entity", "kind", "verdict", "engine", box=None)
        for number, claim in enumerate(event.claims, start=1):
            flagged = claim.get("verdict") in FLAGGED
            table.add_row(
                str(number),
                Text(str(claim.get("text"))),
                Text(str(claim.get("entity") or "—")),
                Text(str(claim.get("kind_label") or claim.get("kind") or "")),
                Text(
                    VERDICT_LABELS.get(str(claim.get("verdict")), str(claim.get("verdict"))),
                    style="red bold"
                    if flagged
                    else "green"
                    if claim.get("verdict") == "verified"
                    else "yellow",
                ),
                Text(str(claim.get("expected") or "")),
            )
        reasons = [
            Text(f"⚠ {c.get('text')}: {c.get('reason')}", style="red")
            for c in event.claims
            if c.get("verdict") in FLAGGED
        ]
        self.console.print(Group(line, table, *reasons))

    def _on_run_finished(self, event: ev.RunFinished) -> None:
        usage = event.usage
        text = (
            f"{event.status} · {usage.get('steps', 0)} steps · {usage.get('input_tokens', 0):,} input / "
            f"{usage.get('output_tokens', 0):,} output tokens · {usage.get('duration_s', 0):.2f} s"
        )
        self.console.print(Text(text, style="bold" if event.status == "success" else "bold red"))


class ScenarioRenderer:
    """Prints the runs of `--after all` one after another, each under its scenario's name."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self.render = TerminalRenderer(self.console)
        self.current: str | None = None

    def __call__(self, scenario: str, event: ev.Event) -> None:
        if scenario != self.current:
            self.current = scenario
            self.console.print(Rule(Text(f"Scenario {scenario}", style="bold"), style="magenta"))
        self.render(event)


def print_scenario_rows(rows: list[ScenarioRow], console: Console | None = None) -> None:
    """The comparison of `--after all`: one row per scenario, figures from the engine."""
    console = console or Console()
    measure = rows[0].measure if rows else ""
    table = Table(title=f"{measure} by scenario (engine figures)", title_justify="left")
    for name in ("scenario", "before", "after", "change", "top driver", "share", "verified"):
        table.add_column(name, justify="right" if name in {"before", "after", "change", "share"} else "left")
    for row in rows:
        ratio = "/" in row.measure
        verdict = (
            f"{row.verified}/{row.checked}" if row.status == "success" else f"{row.status}: {row.error or ''}"
        )
        table.add_row(
            Text(row.scenario),
            _figure(row.before, ratio),
            _figure(row.after, ratio),
            _change(row),
            Text(row.top_driver or "—"),
            "—" if row.driver_share_pct is None else f"{row.driver_share_pct:.2f}%",
            Text(verdict, style="green" if row.all_verified else "red"),
        )
    console.print(table)


def _figure(value: float | None, ratio: bool) -> str:
    if value is None:
        return "—"
    return f"{value:.2%}" if ratio else f"{value:,.2f}"


def _change(row: ScenarioRow) -> str:
    if row.change is None:
        return "—"
    if "/" in row.measure:
        return f"{row.change * 100:+.2f} pp"
    pct = "new" if row.pct_change is None else f"{row.pct_change:+.2f}%"
    return f"{row.change:+,.2f} ({pct})"
