"""What scripts/bench and scripts/soak share: wrk runs and their reports, and the fill (the server is serverlib's)."""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time

WRK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wrk")
HOT_ACCOUNT = "acc00000-0000-4000-8000-000000000000"


def seconds(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def wrk(args, url, script=None, script_args=(), duration=None, latency=True, until_done=None):
    """Runs wrk and parses its report. With until_done (a directory), it is interrupted once every thread
    has written its file there."""
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration or args.duration}s",
               "--timeout", "10s"]
    if latency:
        command.append("--latency")
    if script:
        command += ["-s", script]
    command.append(url)
    if script_args:
        command += ["--"] + [str(a) for a in script_args]
    process = subprocess.Popen(command, cwd=WRK_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if until_done:
        while len(os.listdir(until_done)) < args.threads and process.poll() is None:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
    text, errors = process.communicate(timeout=(duration or args.duration) + 60)
    if process.returncode != 0:
        sys.exit(f"load: wrk failed: {errors}")
    output = subprocess.CompletedProcess(command, 0, text, errors)
    result = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
        "requests": int(re.search(r"(\d+) requests in", text).group(1)),
        "non2xx": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", text)) else 0,
        "socket_errors": sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text)),
    }
    if latency:
        for percentile in ("50", "99"):
            result["p" + percentile] = seconds(re.search(rf"\s{percentile}%\s+([\d.]+\w+)", text).group(1))
    if output.stderr.strip():
        print(output.stderr.strip(), file=sys.stderr)
        result["socket_errors"] += 1
    return result


def fill(args, server, first, count):
    """Posts fill transactions first .. first+count-1 and checks they read back exactly once."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as done:
        result = wrk(args, server.url, "fill.lua", (first, count, args.threads, done), duration=3600,
                     latency=False, until_done=done)
    elapsed = time.monotonic() - started
    total = first + count
    volume = server.get_json("/max_transaction_volume")
    expected = (total + 99) // 100  # every hundredth fill transaction goes to the hot account
    if volume != {"maxVolume": expected, "accounts": [HOT_ACCOUNT]}:
        sys.exit(f"load: after filling {total} transactions, max volume is {volume}, expected {expected} "
                 f"for {HOT_ACCOUNT}")
    print(f"filled {count:,} transactions in {elapsed:.1f} s ({count / elapsed:,.0f}/s); "
          f"the database holds {total:,}, verified through GET /max_transaction_volume")
    return result
