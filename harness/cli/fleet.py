"""``hil fleet --devices N [--rate R] [--duration S]``: N real SDK devices against the realm, vs a floor."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hil.errors import ConfigError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("fleet", help="run N real DeviceMqtt devices against the simulated realm")
    parser.add_argument("--devices", type=int, required=True, help="how many devices")
    parser.add_argument("--rate", type=float, default=1.0, help="messages/s per device (default: 1)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of sending per phase (default: 10)")
    parser.add_argument("--locust-workers", type=int, default=None, metavar="W",
                        help="run the devices as Locust users: one master and W workers on loopback")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results"), help="where results go")
    parser.set_defaults(func=run)


def _progress(phase: str, connected: int, failed: int, total: int) -> None:
    name = {"sdk": "DeviceMqtt", "paho": "bare paho (floor)"}[phase]
    end = "\n" if connected + failed == total else ""
    print(f"\rconnecting {name}: {connected}/{total}" + (f" ({failed} failed)" if failed else ""),
          end=end, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    if args.devices < 1:
        raise ConfigError("--devices must be at least 1")
    if args.rate <= 0 or args.duration <= 0:
        raise ConfigError("--rate and --duration must be positive")
    from hil.benchmarks.startup import check_output, save
    from hil.fleet import run as fleet

    check_output(args.output)
    if args.locust_workers is not None:
        if args.locust_workers < 1:
            raise ConfigError("--locust-workers must be at least 1")
        result = fleet.measure_locust(args.devices, args.rate, args.duration, args.locust_workers)
        path = save(result, args.output)
        print(f"Locust: 1 master, {args.locust_workers} workers on loopback; devices per worker "
              f"{result['devices_per_worker']}; {result['requests']} DeviceMqtt.send ({result['failures']} failed); "
              f"realm received {result['received']} of {result['sent']} sent, lost {result['lost']}; saved {path}")
        return 0 if result["works"] else 1
    result = fleet.measure(args.devices, args.rate, args.duration, progress=_progress)
    path = save(result, args.output)
    for label, phase in (("DeviceMqtt", result["sdk"]), ("bare paho ", result["floor"])):
        c, m, cpu = phase["connect"], phase["messages"], phase["cpu"]
        lag = m["realm_lag_ms"] or {"p50": float("nan"), "p99": float("nan")}
        print(f"{label}: {c['connected']}/{c['devices']} connected in {c['time_to_all_connected_s']:.1f} s "
              f"({c['connect_rate_per_s']}/s); realm accepted {m['accepted_msgs_per_s']:.0f} msg/s "
              f"(offered {m['offered_msgs_per_s']:.0f}); lag p50 {lag['p50']} ms, p99 {lag['p99']} ms; "
              f"lost {m['lost']}; {phase['memory']['per_device_kb']:.0f} kB/device; "
              f"workers {cpu['workers_cpu_s_sending']:.1f} CPU s sending, machine {cpu['machine_busy_sending']:.0%} busy")
    verdict = "meets" if result["meets_goal"] else "MISSES"
    scale = "" if result["at_goal_scale"] else f" (at {result['devices']} devices; the goal is {result['goal_devices']})"
    print(f"ratio {result['ratio']:.2f}: {verdict} the goal of >= {result['goal_ratio']} of the floor with 0 lost"
          f"{scale}; load average {result['load_average_before'][0]:.1f}; saved {path}")
    return 0
