"""The benchmark tables, in Markdown: printed at the end of a run, saved beside the JSON, pasted in the README."""

from __future__ import annotations

from typing import Any

from benchmarks.machine import machine_line


def _s(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _int(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def engine_table(rows: list[dict[str, Any]]) -> str:
    body = []
    for row in rows:
        ours, bare, others = row["ours"], row["bare"], row.get("candidates") or {}
        if "error" in ours or "error" in bare:
            body.append([f"{row['rows']:,}", "error: " + (ours.get("error") or bare.get("error"))] + [""] * 7)
            continue
        body.append(
            [
                f"{row['rows']:,}",
                f"{row['file_mb']}",
                _s(bare.get("seconds")),
                f"{_s(ours.get('seconds'))} ({_s(ours.get('load_s'))} + {_s(ours.get('analysis_s'))})",
                f"**{_s(row.get('ratio'), 2)}×**",
                " / ".join(_s((others.get(name) or {}).get("seconds")) for name in ("polars", "duckdb")),
                f"{_int(ours.get('peak_rss_mb'))} / {_int(bare.get('peak_rss_mb'))}",
                "yes" if ours.get("found_planted") else "**no**",
            ]
        )
    header = [
        "rows",
        "CSV MB",
        "bare pandas s",
        "ours s (load + analysis)",
        "ratio",
        "polars / duckdb s",
        "peak MB ours / bare",
        "planted slice first",
    ]
    return _table(header, body)


def drill_table(rows: list[dict[str, Any]]) -> str:
    def cell(measured: dict[str, Any]) -> list[str]:
        if "error" in measured:
            return [measured["error"], "—"]
        rank = measured.get("planted_rank")
        return [_s(measured["seconds"]), "not found" if rank is None else f"#{rank}"]

    body = [[f"{row['rows']:,}", *cell(row["ours"]), *cell(row["wise_pizza"])] for row in rows]
    return _table(
        ["rows", "ours s", "ours: planted slice", "wise-pizza s", "wise-pizza: planted slice"], body
    )


def end_to_end_table(summary: dict[str, Any]) -> str:
    body = [
        [
            f"{summary['rows']:,}",
            _s(summary["wall_s"], 2),
            f"{_s(summary['interpreter_s'] + summary['imports_s'], 2)} ({summary['startup_share']:.0%})",
            _s(summary["help_wall_s"], 2),
            _s(summary.get("agent_loop_s"), 2),
            str(summary["status"]),
            f"{summary['verified']} verified, {summary['mismatched']} wrong",
        ]
    ]
    header = ["rows", "wall s", "start-up s (share)", "--help s", "agent loop s", "status", "numbers"]
    return _table(header, body)


def agent_summary_table(summary: list[dict[str, Any]]) -> str:
    body = [
        [
            row["model"],
            row["agent"],
            f"{row['solved']}/{row['cases']}",
            str(row["mismatched_numbers"]),
            _s(row["mean_steps"], 1),
            _int(row["mean_input_tokens"]),
            _int(row["mean_output_tokens"]),
            _int(row["mean_first_request_tokens"]),
            _s(row["mean_seconds"], 2),
        ]
        for row in summary
    ]
    header = [
        "model",
        "agent",
        "solved",
        "wrong numbers",
        "steps",
        "input tokens",
        "output tokens",
        "first request tokens",
        "seconds",
    ]
    return _table(header, body)


PUBLISHED_NUMBERS = {"code": "right", "tool-calling": "wrong"}


def published_table(rows: list[dict[str, Any]], case: str = "one_dimension") -> str:
    """Ours on the revenue-by-country task beside the published code-vs-tool-calling comparison."""
    from agent.output.comparison import PUBLISHED

    body = []
    for row in rows:
        if row["case"] != case:
            continue
        published = PUBLISHED.get(row["agent"], {})
        numbers = "right" if row.get("verified") and not row.get("mismatched") else "wrong"
        body.append(
            [
                row["model"],
                row["agent"],
                str(row.get("steps")),
                _int(row.get("input_tokens")),
                numbers,
                str(published.get("steps")),
                _int(published.get("input_tokens")),
                PUBLISHED_NUMBERS.get(row["agent"], "—"),
            ]
        )
    header = [
        "model",
        "agent",
        "steps",
        "input tokens",
        "numbers",
        "published steps",
        "published input tokens",
        "published numbers",
    ]
    return _table(header, body)


def agent_cases_table(rows: list[dict[str, Any]]) -> str:
    """One row per case; per model and agent kind: solved, steps, input tokens and the first request's tokens."""
    by_case: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_case.setdefault(row["case"], {})[f"{row['model']} {row['agent']}"] = row
    columns = list(dict.fromkeys(f"{row['model']} {row['agent']}" for row in rows))

    def cell(row: dict[str, Any] | None) -> str:
        if row is None:
            return "—"
        mark = "ok" if row["success"] else "FAIL"
        return (
            f"{mark} · {row.get('steps')} steps · {_int(row.get('input_tokens'))} tok "
            f"(first {_int(row.get('first_request_tokens'))})"
        )

    body = [[case] + [cell(found.get(c)) for c in columns] for case, found in by_case.items()]
    return _table(["case", *columns], body)


def page_table(rows: list[dict[str, Any]]) -> str:
    body = []
    for row in rows:
        if "error" in row:
            body.append([row["file"], row["error"], "", "", ""])
        else:
            body.append(
                [
                    row["file"],
                    _s(row.get("open_s"), 2),
                    _s(row["load_s"], 2),
                    _s(row["first_step_s"], 2),
                    _s(row["summary_s"], 2),
                ]
            )
    header = ["file", "page open s", "upload + load s", "Run → first step s", "Run → verified summary s"]
    return _table(header, body)


def verification_table(result: dict[str, Any]) -> str:
    """Planted mistakes flagged per kind, and false flags on correct summaries and paraphrases."""
    body = [
        [
            kind.replace("_", " "),
            f"{row['detected']}/{row['total']}",
            f"{row['detected'] / row['total']:.1%}" if row["total"] else "—",
        ]
        for kind, row in result["by_kind"].items()
    ]
    body.append(
        [
            "**all mutations**",
            f"{result['detected']}/{result['mutations']}",
            f"**{result['detection_rate']:.1%}**" if result["detection_rate"] is not None else "—",
        ]
    )
    body.append(
        [
            "false flags (correct summaries + paraphrases)",
            f"{result['false_flags']}/{result['correct_texts']}",
            f"**{result['false_flag_rate']:.1%}**" if result["false_flag_rate"] is not None else "—",
        ]
    )
    return _table(["mistake planted", "flagged", "rate"], body)


def ratios_table(ratios: dict[str, Any]) -> str:
    """Start-up, 1M rows, verification and the queue as one table of ratios against their goals."""
    rows = []
    startup, million = ratios.get("startup") or {}, ratios.get("million") or {}
    if startup:
        rows.append(
            [
                "`python -m agent run` sample / python + pandas read + sum",
                f"{_s(startup.get('ours_s'), 2)} / {_s(startup.get('floor_s'), 2)} s",
                f"**{_s(startup.get('ratio'), 2)}×**",
                "≤ 2.0×",
            ]
        )
    if million:
        rows.append(
            [
                f"CLI on {million.get('rows', 0):,} rows / bare pyarrow read + group-by",
                f"{_s(million.get('ours_s'), 2)} / {_s(million.get('floor_s'), 2)} s",
                f"**{_s(million.get('ratio'), 2)}×**",
                "≤ 2.0×",
            ]
        )
        rows.append(
            [
                f"worker hand-off at {million.get('segments', 0):,} segments (Arrow IPC)",
                f"{million.get('sent_mb')} MB sent (CSV {million.get('csv_mb')} MB)",
                f"encode {_s(million.get('encode_s'))} s, decode {_s(million.get('decode_s'))} s",
                "no copy",
            ]
        )
    scaling = ratios.get("verification") or []
    if scaling:
        first, last = scaling[0], scaling[-1]
        rows.append(
            [
                f"verification, {first['segments']:,} → {last['segments']:,} segments",
                " / ".join(f"{row['facts']:,}" for row in scaling) + " facts",
                f"**{last['facts'] / max(first['facts'], 1):.2f}×** facts",
                "1.0×",
            ]
        )
    queue = ratios.get("queue") or {}
    if queue:
        rows.append(
            [
                f"{queue['visitors']} runs at once through the queue ({queue['slots']} slots)",
                f"position or first step within {_s(queue['told_within_s'], 2)} s, "
                f"{queue['right']}/{queue['visitors']} right",
                f"at most {queue['most_running']} running",
                "≤ 1 s, all right",
            ]
        )
    return _table(["what", "measured", "ratio", "goal"], rows)


def markdown_report(result: dict[str, Any]) -> str:
    """All sections present in a result, with the machine and the mode on top."""
    parts = [
        f"Measured {result['started']} on {machine_line(result['machine'])} "
        f"(`python -m benchmarks{' --quick' if result['mode'] == 'quick' else ''}`, {result['seconds']:.0f} s)."
    ]
    ratios = result.get("ratios")
    if ratios and "error" not in ratios:
        parts += [
            "**Issue 19 ratios** (wall seconds of whole commands, fresh interpreters, run in turn, median):",
            ratios_table(ratios),
        ]
    if result.get("engine"):
        parts += [
            '**Engine at scale** (load + full analysis vs bare `pandas.read_csv(engine="pyarrow")` + one '
            "group-by per dimension, fresh process each, median):",
            engine_table(result["engine"]),
        ]
    if result.get("drill"):
        parts += [
            "**Drill-down vs wise-pizza** (same planted Parquet tables, search only):",
            drill_table(result["drill"]),
        ]
    if result.get("end_to_end"):
        parts += [
            "**End to end** (`python -m agent run FILE --json`, built-in analyst):",
            end_to_end_table(result["end_to_end"]),
        ]
    if result.get("agents"):
        parts += [
            "**Revenue-by-country task beside the published comparison:**",
            published_table(result["agents"]["cases"]),
            f"**Agent task suite** ({len({r['case'] for r in result['agents']['cases']})} cases with planted "
            "answers; means per case):",
            agent_summary_table(result["agents"]["summary"]),
            agent_cases_table(result["agents"]["cases"]),
        ]
        if result["agents"].get("change_log"):
            from benchmarks.change_log import change_log_table

            parts += [
                "**Change-log cases** (code agent, each run without and with its events file; the change-log "
                "agent's steps and tokens are part of the totals):",
                change_log_table(result["agents"]["change_log"]),
            ]
    if result.get("page"):
        parts += [
            "**Page latency** (headless Chromium, built-in analyst, median):",
            page_table(result["page"]),
        ]
    windows = result.get("windows")
    if windows and "ratio" in windows:
        parts += [
            f"**Comparison windows** (a daily table of {windows['rows']:,} rows, {windows['dates']} dates × 3 "
            f"dimensions, {windows['file_mb']} MB: load + week-over-week windows + full analysis vs bare "
            '`pandas.read_csv(engine="pyarrow")` + date filter + group-by, same process, median): ours '
            f"{_s(windows['ours_s'], 3)} s, bare {_s(windows['bare_s'], 3)} s, ratio {_s(windows['ratio'], 2)}; "
            f"windows {' vs '.join(windows['windows'])}, planted slice first: {windows['found_planted']}."
        ]
    if result.get("sources"):
        from benchmarks.sources import report as sources_report

        parts += sources_report(result["sources"])
    verification = result.get("verification")
    if verification and "by_kind" in verification:
        parts += [
            f"**Claim verification** (the built-in analysts' summaries on {verification['datasets']} generated "
            f"datasets, {verification['summaries']} summaries, {verification['claims']} claims, and "
            f"{verification.get('hand_written', 0)} hand-written and LLM-style paraphrases; each mutated; "
            f"a check takes {_s(verification['check_ms_median'], 1)} ms median, "
            f"{_s(verification['check_ms_max'], 1)} ms max):",
            verification_table(verification),
        ]
    return "\n\n".join(parts) + "\n"
