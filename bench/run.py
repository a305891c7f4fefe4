"""`make bench`: our stack against stock Rasa, in the same run on the same machine (docs/deploy.md, "Benchmarks").

Ours: one Rasa instance with the action server, the KB and the masking SQL tracker store on a fresh PostgreSQL
database (as in production; `make run` defaults to SQLite). Stock: a bot trained from the same NLU data and config
with plain responses, no custom actions and Rasa's in-memory tracker store (bench/stock.py). Both take REST turns
directly (no nginx), one stack at a time, with the other idle.

Prints a table, writes bench/results.json and bench/latency.png. Environment knobs: BENCH_TURNS (turns per
latency run, default 300), BENCH_LONG_TURNS (length of the long conversation, default 200; BENCH_LONG_REPEATS of
them, default 2), BENCH_EVENTS (rows put
in the tracker store for the "full log" run, default 1000000; 0 skips it), BENCH_TRAIN=1 (time a full training of
our bot, in var/bench/train/, instead of reusing the cached time), BENCH_PROFILE=1 (py-spy flame graph of our Rasa
during the long conversation, bench/profile.svg). Numbers from a busy machine are noisy: rerun on a quiet one.

Others add sections to the report through `EXTRA_SECTIONS` ("name": "module:function"); each function is called
with `database_url=` (the benchmark database, holding the full log when BENCH_EVENTS > 0) and returns a JSON-able
dict, or is skipped with a note if its module is not there yet.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.stock import STOCK_DIR, stock_model
from bot.config import ROOT, VAR_DIR
from bot.serve import actions_command, rasa_command
from bot.training import fingerprint as model_fingerprint
from bot.training import latest_model

BENCH_DIR = ROOT / "bench"
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MESSAGES = [
    "你好",
    "社保卡咋办",
    "社保卡能寄到家吗",
    "电梯困人了",
    "医保电子凭证咋弄",
    "俺家孩子上学的事找谁",
    "人才公寓咋申请",
    "今天天气怎么样",
    "谢谢",
    "农村改厕找哪个部门",
    "有纠纷了找谁调解",
    "老旧小区改造啥时候轮到俺们",
]
TURNS_PER_CONVERSATION = 5
GOALS = {
    "throughput_ratio": ("≥", 0.8),
    "p95_c1_ms": ("≤", 50.0),
    "rasa_rss_mb": ("≤", 1024.0),
    "turn200_over_turn5": ("≤", 1.5),
    "full_log_over_empty": ("≤", 1.2),
    "faq_to_live_s": ("≤", 120.0),
}
# Sections others add (console list query on the full log, FAQ-to-live time): "name": "module:function".
EXTRA_SECTIONS: dict[str, str] = {
    "console_list_p95": "bot.conversations.bench:measure_list_p95",
    "faq_to_live": "bench.faq_to_live:measure_faq_to_live",
}


def _int_env(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "n": len(samples),
        "p50_ms": round(percentile(samples, 0.50), 1),
        "p95_ms": round(percentile(samples, 0.95), 1),
        "p99_ms": round(percentile(samples, 0.99), 1),
        "mean_ms": round(statistics.fmean(samples), 1) if samples else float("nan"),
    }


# --- servers -------------------------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    url: str
    log: Path
    ready_seconds: float = 0.0

    def rss_mb(self) -> dict[str, float]:
        """Resident set size now and its peak (VmHWM), from /proc."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        values = {line.split(":")[0]: line.split()[1] for line in status.splitlines() if line.startswith("Vm")}
        return {"rss_mb": round(int(values["VmRSS"]) / 1024, 1), "peak_rss_mb": round(int(values["VmHWM"]) / 1024, 1)}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    name: str, command: list[str], ready_url: str, env: dict[str, str], cwd: Path, timeout: float = 900
) -> Server:
    logs = VAR_DIR / "bench" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    server = Server(name, process, ready_url.split("/status")[0].rstrip("/"), log)
    import requests

    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} stopped while starting; see {log}")
        try:
            if requests.get(ready_url, timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() - started > timeout:
            server.stop()
            raise RuntimeError(f"{name} not ready after {timeout:.0f} s; see {log}")
        time.sleep(0.25)
    server.ready_seconds = round(time.monotonic() - started, 1)
    return server


# --- load ----------------------------------------------------------------------------------------------------------


async def _turn(session: aiohttp.ClientSession, url: str, sender: str, message: str) -> float:
    started = time.perf_counter()
    async with session.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": message}) as reply:
        body = await reply.read()
        if reply.status != 200:
            raise RuntimeError(f"HTTP {reply.status} from {url}: {body[:300]!r}")
    return (time.perf_counter() - started) * 1000


async def _load(url: str, concurrency: int, turns: int, tag: str) -> tuple[list[float], float, list[float]]:
    """`turns` turns by `concurrency` residents at once, 5-turn conversations: (all latencies, seconds, turn 5's)."""
    latencies: list[float] = []
    fifth: list[float] = []
    remaining = [turns]
    timeout = aiohttp.ClientTimeout(total=120)

    async def resident(worker: int, session: aiohttp.ClientSession) -> None:
        conversation = 0
        while remaining[0] > 0:
            conversation += 1
            sender = f"bench-{tag}-{worker}-{conversation}-{uuid.uuid4().hex[:6]}"
            for number in range(TURNS_PER_CONVERSATION):
                if remaining[0] <= 0:
                    return
                remaining[0] -= 1
                message = MESSAGES[(worker + conversation * 7 + number) % len(MESSAGES)]
                elapsed = await _turn(session, url, sender, message)
                latencies.append(elapsed)
                if number == TURNS_PER_CONVERSATION - 1:
                    fifth.append(elapsed)

    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(resident(worker, session) for worker in range(concurrency)))
        return latencies, time.perf_counter() - started, fifth


async def _long_conversation(url: str, turns: int, tag: str) -> list[float]:
    """One resident, `turns` turns in one conversation: the latency of each turn in order."""
    sender = f"bench-long-{tag}-{uuid.uuid4().hex[:6]}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        return [await _turn(session, url, sender, MESSAGES[number % len(MESSAGES)]) for number in range(turns)]


def load(url: str, concurrency: int, turns: int, tag: str) -> dict[str, Any]:
    latencies, seconds, fifth = asyncio.run(_load(url, concurrency, turns, tag))
    return {
        **summary(latencies),
        "concurrency": concurrency,
        "throughput_turns_per_s": round(len(latencies) / seconds, 1),
        "turn5_p95_ms": round(percentile(fifth, 0.95), 1),
        "samples_ms": [round(value, 2) for value in latencies],
    }


def long_conversation(url: str, turns: int, tag: str, repeats: int | None = None) -> dict[str, Any]:
    repeats = repeats or _int_env("BENCH_LONG_REPEATS", 2)
    runs = [asyncio.run(_long_conversation(url, turns, f"{tag}{run}")) for run in range(repeats)]
    window = [value for run in runs for value in run[max(0, turns - 20) :]]
    return {
        "turns": turns,
        "repeats": repeats,
        "last20_p95_ms": round(percentile(window, 0.95), 1),
        "per_turn_ms": [round(statistics.fmean(values), 2) for values in zip(*runs, strict=True)],
    }


# --- the database --------------------------------------------------------------------------------------------------


def create_database() -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    admin = sa.create_engine(POSTGRES_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def count_events(url: str) -> int:
    engine = sa.create_engine(url, future=True)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(sa.text("SELECT count(*) FROM events")) or 0)
    finally:
        engine.dispose()


def fill_log(url: str, events: int) -> dict[str, Any]:
    """`python -m bot logs generate` (the console's generator) puts `events` realistic rows in the events table."""
    started = time.monotonic()
    command = [sys.executable, "-m", "bot", "logs", "generate", "--events", str(events), "--database-url", url]
    code = subprocess.call(command, cwd=ROOT, stdout=subprocess.DEVNULL)  # noqa: S603
    if code != 0:
        raise RuntimeError("`python -m bot logs generate` failed")
    generated = round(time.monotonic() - started, 1)
    # A live database is vacuumed and analysed as it grows; measuring while autovacuum works through a million
    # fresh rows would time PostgreSQL's housekeeping, not the assistant.
    # CHECKPOINT too: otherwise PostgreSQL writes the million rows' pages out while the turns are timed (seen as
    # +2.5 ms at p50 in one run; interleaved runs against a full and an empty log differed by 0-14 % at p95).
    engine = sa.create_engine(url, future=True, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("VACUUM ANALYZE"))
            connection.execute(sa.text("CHECKPOINT"))
    finally:
        engine.dispose()
    return {"events": count_events(url), "generate_seconds": generated}


# --- one-off measurements ------------------------------------------------------------------------------------------


def nlu_quality(model: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "bot", "evaluate", "--model", str(model)]
    subprocess.call(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    report = json.loads((VAR_DIR / "holdout-report.json").read_text(encoding="utf-8"))
    keys = ("examples", "in_scope_accuracy", "oos_examples", "oos_recall", "misroutes", "misroute_rate")
    return {key: report[key] for key in keys}


def training_time() -> dict[str, Any]:
    """Full training of our bot from scratch (no Rasa cache): measured with BENCH_TRAIN=1 (into var/bench/train/),
    else the number measured last time."""
    cache = VAR_DIR / "bench" / "train-time.json"
    current = model_fingerprint()
    if os.environ.get("BENCH_TRAIN") == "1":
        out = VAR_DIR / "bench" / "train"
        started = time.monotonic()
        command = [sys.executable, "-m", "rasa", "train", "--config", "config.yml", "--domain", "domain.yml"]
        command += ["--data", "data", "--out", str(out), "--fixed-model-name", "bench"]
        cold = VAR_DIR / "bench" / "train-cache"  # an empty Rasa cache: every component really trains
        shutil.rmtree(cold, ignore_errors=True)
        env = {**os.environ, "RASA_CACHE_DIRECTORY": str(cold)}
        with (VAR_DIR / "bench" / "train.log").open("w", encoding="utf-8") as log:
            code = subprocess.call(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)  # noqa: S603
        shutil.rmtree(cold, ignore_errors=True)
        if code == 0:
            cache.write_text(json.dumps({"fingerprint": current, "seconds": round(time.monotonic() - started, 1)}))
    if cache.is_file():
        saved = json.loads(cache.read_text())
        return {"seconds": saved["seconds"], "current": saved["fingerprint"] == current}
    return {"seconds": None, "note": "not measured yet: run `BENCH_TRAIN=1 make bench`"}


def extra_sections(database_url: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, target in EXTRA_SECTIONS.items():
        module_name, function_name = target.split(":")
        try:
            function: Callable[..., Any] = getattr(importlib.import_module(module_name), function_name)
        except (ImportError, AttributeError) as error:
            results[name] = {"skipped": f"{target} not available ({error})"}
            continue
        try:
            results[name] = function(database_url=database_url)
        except Exception as error:
            results[name] = {"error": f"{type(error).__name__}: {error}"}
    return results


# --- report --------------------------------------------------------------------------------------------------------


@dataclass
class Report:
    results: dict[str, Any] = field(default_factory=dict)

    def goals(self) -> dict[str, Any]:
        ours, stock = self.results["ours"], self.results["stock"]
        measured = {
            "throughput_ratio": ours["c10"]["throughput_turns_per_s"] / stock["c10"]["throughput_turns_per_s"],
            "p95_c1_ms": ours["c1"]["p95_ms"],
            "rasa_rss_mb": ours["rss"]["rasa"]["peak_rss_mb"],
            "turn200_over_turn5": ours["long"]["last20_p95_ms"] / ours["c1"]["turn5_p95_ms"],
        }
        if "full_log" in ours:
            measured["full_log_over_empty"] = ours["full_log"]["c1"]["p95_ms"] / ours["c1"]["p95_ms"]
        faq_live = self.results.get("extra", {}).get("faq_to_live", {})
        if faq_live.get("answered"):
            measured["faq_to_live_s"] = faq_live["seconds"]
        goals = {}
        for name, value in measured.items():
            sign, target = GOALS[name]
            met = value >= target if sign == "≥" else value <= target
            goals[name] = {"value": round(value, 2), "goal": f"{sign} {target}", "met": met}
        return goals

    def table(self) -> str:
        ours, stock = self.results["ours"], self.results["stock"]
        rows = [("", "ours", "stock", "ours/stock")]
        for level in ("c1", "c10"):
            for key in ("p50_ms", "p95_ms", "p99_ms", "throughput_turns_per_s"):
                a, b = ours[level][key], stock[level][key]
                rows.append((f"{level} {key}", f"{a}", f"{b}", f"{a / b:.2f}" if b else "-"))
        a, b = ours["long"]["last20_p95_ms"], stock["long"]["last20_p95_ms"]
        rows.append((f"turn {ours['long']['turns']} p95_ms", f"{a}", f"{b}", f"{a / b:.2f}"))
        rows.append(("turn 5 p95_ms", f"{ours['c1']['turn5_p95_ms']}", f"{stock['c1']['turn5_p95_ms']}", ""))
        if "full_log" in ours:
            rows.append(
                (f"c1 p95_ms, {ours['full_log']['events']:,} events", f"{ours['full_log']['c1']['p95_ms']}", "", "")
            )
        rows.append(("ready after start (s)", f"{ours['ready_seconds']}", f"{stock['ready_seconds']}", ""))
        rows.append(
            (
                "Rasa peak RSS (MB)",
                f"{ours['rss']['rasa']['peak_rss_mb']}",
                f"{stock['rss']['rasa']['peak_rss_mb']}",
                "",
            )
        )
        rows.append(("action server peak RSS (MB)", f"{ours['rss']['actions']['peak_rss_mb']}", "", ""))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
        nlu, train = self.results["nlu"], self.results["training"]
        lines.append(
            f"NLU hold-out: in-scope accuracy {nlu['in_scope_accuracy']:.3f}, out-of-scope rejection "
            f"{nlu['oos_recall']:.3f}, misroutes {nlu['misroutes']}; full training {train.get('seconds')} s"
        )
        faq_live = self.results.get("extra", {}).get("faq_to_live", {})
        if "seconds" in faq_live:
            first = faq_live.get("first_faqs", {})
            lines.append(
                f"FAQ import -> new answer live: {faq_live['seconds']} s ({faq_live['mode']}, answered: "
                f"{faq_live['answered']}); the first FAQs {first.get('seconds')} s ({first.get('mode')}); failed chat "
                f"requests {faq_live['failed_requests']} of {faq_live['requests']}, "
                f"{first.get('failed_requests')} of {first.get('requests')}"
            )
        for name, goal in self.results["goals"].items():
            lines.append(f"goal {name}: {goal['value']} (goal {goal['goal']}) {'met' if goal['met'] else 'NOT met'}")
        return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for stack, colour in (("ours", "tab:blue"), ("stock", "tab:grey")):
        data = results[stack]
        levels = [data["c1"]["concurrency"], data["c10"]["concurrency"]]
        for key, style in (("p50_ms", "-o"), ("p95_ms", "--s")):
            left.plot(levels, [data["c1"][key], data["c10"][key]], style, color=colour, label=f"{stack} {key[:3]}")
        turns = data["long"]["per_turn_ms"]
        window = 10
        smooth = [statistics.fmean(turns[max(0, i - window) : i + 1]) for i in range(len(turns))]
        right.plot(range(1, len(turns) + 1), smooth, color=colour, label=f"{stack} (mean of last {window})")
    left.set(xlabel="concurrent residents", ylabel="REST turn latency (ms)", title="Latency against concurrency")
    left.set_xticks([1, 10])
    right.set(xlabel="turn of one conversation", ylabel="latency (ms)", title="Latency against conversation length")
    for axis in (left, right):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# --- the run -------------------------------------------------------------------------------------------------------


def measure_stack(server: Server, turns: int, long_turns: int, tag: str) -> dict[str, Any]:
    load(server.url, 1, 20, f"{tag}-warm")  # warm-up: first turns load lazily
    return {
        "ready_seconds": server.ready_seconds,
        "c1": load(server.url, 1, turns, f"{tag}-c1"),
        "c10": load(server.url, 10, turns * 2, f"{tag}-c10"),
        "long": long_conversation(server.url, long_turns, tag),
    }


def profile(server: Server, long_turns: int) -> str | None:
    if os.environ.get("BENCH_PROFILE") != "1":
        return None
    output = BENCH_DIR / "profile.svg"
    command = [str(Path(sys.executable).parent / "py-spy"), "record", "-o", str(output), "--pid"]
    spy = subprocess.Popen([*command, str(server.process.pid)], stdout=subprocess.DEVNULL)  # noqa: S603
    long_conversation(server.url, long_turns, "profile", repeats=1)
    load(server.url, 10, 200, "profile")
    spy.send_signal(2)
    spy.wait(timeout=60)
    return str(output)


def main() -> int:
    turns, long_turns = _int_env("BENCH_TURNS", 300), _int_env("BENCH_LONG_TURNS", 200)
    full_log_events = _int_env("BENCH_EVENTS", 1_000_000)
    model = latest_model()
    if model is None:
        print("No trained model in models/: run `make train` first.", file=sys.stderr)
        return 1
    stock, stock_train_seconds = stock_model(force=os.environ.get("BENCH_STOCK_RETRAIN") == "1")
    database_url = create_database()
    token = uuid.uuid4().hex
    base_env = {**os.environ, "SANIC_HOST": "127.0.0.1", "RATE_LIMIT_MESSAGES": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    servers: dict[str, Server] = {}
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "python": platform.python_version()},
        "setup": {
            "ours": "rasa run + action server (KB in PostgreSQL) + MaskingSQLTrackerStore on PostgreSQL, "
            "in-memory lock store (one instance, as make run)",
            "stock": "rasa run, same NLU data and config, plain responses, no custom actions, InMemoryTrackerStore",
            "model": str(model),
            "stock_model": str(stock),
        },
    }
    try:
        subprocess.check_call(
            [sys.executable, "-m", "bot", "kb", "build"], cwd=ROOT, env={**base_env, "DATABASE_URL": database_url}
        )
        work = VAR_DIR / "bench"
        action_port, ours_port, stock_port = free_port(), free_port(), free_port()
        endpoints = work / "endpoints.yml"
        endpoints.write_text(
            f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n'
            f"tracker_store:\n  type: bot.tracker_store.MaskingSQLTrackerStore\n"
            f'  spool_dir: "{work / "spool"}"\n',
            encoding="utf-8",
        )
        env = {**base_env, "DATABASE_URL": database_url}
        servers["actions"] = start(
            "actions", actions_command(action_port), f"http://127.0.0.1:{action_port}/health", env, ROOT
        )
        ours_command = rasa_command(model, ours_port, token, endpoints, ROOT / "credentials.yml")
        ready = f"http://127.0.0.1:{ours_port}/status?token={token}"
        servers["ours"] = start("ours", ours_command, ready, env, ROOT)
        stock_command = rasa_command(
            stock, stock_port, token, STOCK_DIR / "endpoints.yml", STOCK_DIR / "credentials.yml"
        )
        ready = f"http://127.0.0.1:{stock_port}/status?token={token}"
        servers["stock"] = start("stock", stock_command, ready, base_env, ROOT)

        print("bench: stock Rasa …")
        results["stock"] = measure_stack(servers["stock"], turns, long_turns, "stock")
        results["stock"]["rss"] = {"rasa": servers["stock"].rss_mb()}
        results["stock"]["train_seconds_this_run"] = stock_train_seconds
        servers.pop("stock").stop()
        print("bench: ours …")
        results["ours"] = measure_stack(servers["ours"], turns, long_turns, "ours")
        results["ours"]["rss"] = {"rasa": servers["ours"].rss_mb(), "actions": servers["actions"].rss_mb()}
        results["ours"]["events_before_full_log"] = count_events(database_url)
        profiled = profile(servers["ours"], long_turns)
        if profiled:
            results["profile"] = profiled
        if full_log_events > 0:
            print(f"bench: {full_log_events:,} events into the tracker store …")
            filled = fill_log(database_url, full_log_events)
            load(servers["ours"].url, 1, 20, "full-warm")  # as for the empty log: first turns load lazily
            results["ours"]["full_log"] = {**filled, "c1": load(servers["ours"].url, 1, turns, "full-c1")}
            results["ours"]["full_log"]["long"] = long_conversation(servers["ours"].url, long_turns, "full", repeats=1)
        for server in servers.values():
            server.stop()
        servers.clear()
        results["nlu"] = nlu_quality(model)
        results["training"] = training_time()
        results["extra"] = extra_sections(database_url)
    finally:
        for server in servers.values():
            server.stop()
        drop_database(database_url)
    report = Report(results)
    results["goals"] = report.goals()
    BENCH_DIR.mkdir(exist_ok=True)
    (BENCH_DIR / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    plot(results, BENCH_DIR / "latency.png")
    print(report.table())
    print(f"Wrote {BENCH_DIR / 'results.json'} and {BENCH_DIR / 'latency.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
