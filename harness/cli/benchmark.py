"""``hil benchmark NAME``: run a benchmark and save its figures under benchmarks/results/."""

from __future__ import annotations

import argparse
from pathlib import Path

from hil.errors import ConfigError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("benchmark", help="measure hil against a floor (startup, grpc, mqtt, fuzz)")
    parser.add_argument("name", choices=["startup", "grpc", "mqtt", "fuzz"], help="which benchmark")
    parser.add_argument("--runs", type=int, default=None,
                        help="measurements per side (default: 20 for startup, 3 for grpc and mqtt)")
    parser.add_argument("--messages", type=int, default=1000, help="grpc, mqtt: messages per round (default: 1000)")
    parser.add_argument("--examples", type=int, default=200, help="fuzz: examples of property 2 (default: 200)")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results"), help="where results go")
    parser.add_argument("--backend", choices=["process", "container"], default="process",
                        help="startup: 'container' times the whole stack through containers vs processes")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.name == "grpc":
        return run_grpc(args)
    if args.name == "fuzz":
        return run_fuzz(args)
    if args.name == "mqtt":
        return run_mqtt(args)
    if args.backend == "container":
        return run_stack(args)
    args.runs = 20 if args.runs is None else args.runs
    if args.runs < 1:
        raise ConfigError("--runs must be at least 1")
    from hil.benchmarks import startup

    startup.check_output(args.output)
    result = startup.measure(args.runs)
    path = startup.save(result, args.output)
    hil, floor = result["hil"], result["floor"]
    print(f"hil Service : median {hil['median_ms']:.1f} ms, p90 {hil['p90_ms']:.1f} ms")
    print(f"bare floor  : median {floor['median_ms']:.1f} ms, p90 {floor['p90_ms']:.1f} ms")
    verdict = "meets" if result["meets_goal"] else "MISSES"
    print(f"ratio {result['ratio_median']:.2f} ({verdict} the goal of <= {result['goal_ratio']}); saved {path}")
    return 0


def run_stack(args: argparse.Namespace) -> int:
    if args.name != "startup":
        raise ConfigError("--backend container applies to the startup benchmark only", source="--backend")
    runs = 3 if args.runs is None else args.runs
    if runs < 1:
        raise ConfigError("--runs must be at least 1")
    from hil.benchmarks import stack, startup

    startup.check_output(args.output)
    result = stack.measure(runs)
    path = startup.save(result, args.output)
    process, container = result["process"], result["container"]
    print(f"engine      : {result['engine']['origin']} ({result['engine']['ready_s']:.2f} s to answer), "
          f"images ready in {result['images']['ready_s']:.2f} s")
    print(f"processes   : median {process['median_ms']:.0f} ms, p90 {process['p90_ms']:.0f} ms")
    print(f"containers  : median {container['median_ms']:.0f} ms, p90 {container['p90_ms']:.0f} ms")
    verdict = "meets" if result["meets_goal"] else "MISSES"
    print(f"ratio {result['ratio_median']:.2f} ({verdict} the goal of <= {result['goal_ratio']}); saved {path}")
    return 0


def _runs_and_messages(args: argparse.Namespace) -> int:
    """The number of runs (3 unless given) of a message-rate benchmark, both counts checked."""
    runs = 3 if args.runs is None else args.runs
    if runs < 1 or args.messages < 1:
        raise ConfigError("--runs and --messages must be at least 1")
    return int(runs)


def run_grpc(args: argparse.Namespace) -> int:
    runs = _runs_and_messages(args)
    from hil.benchmarks import grpc as grpc_bench
    from hil.benchmarks.startup import check_output, save

    check_output(args.output)
    result = grpc_bench.measure(runs, args.messages)
    path = save(result, args.output)
    realm, floor, ceiling = result["realm_path"], result["floor"], result["sdk_ceiling"]
    print(f"DeviceGrpc -> hub -> realm : {realm['median_msgs_per_s']:.0f} msg/s (median of {runs})")
    print(f"bare client -> discard hub : {floor['median_msgs_per_s']:.0f} msg/s")
    print(f"DeviceGrpc -> discard hub  : {ceiling['median_msgs_per_s']:.0f} msg/s "
          f"(SDK ceiling, ratio {ceiling['ratio_to_floor']:.2f})")
    verdict = "meets" if result["meets_goal"] else "MISSES"
    print(f"ratio {result['ratio_median']:.2f} ({verdict} the goal of >= {result['goal_ratio']}); "
          f"the realm path keeps {ceiling['realm_path_ratio']:.2f} of the SDK ceiling; saved {path}")
    if not result["meets_goal"] and ceiling["ratio_to_floor"] < result["goal_ratio"]:
        print(f"note: DeviceGrpc alone reaches {ceiling['ratio_to_floor']:.2f} of the floor, so no hub can meet the goal "
              "with this SDK")
    return 0


def run_mqtt(args: argparse.Namespace) -> int:
    runs = _runs_and_messages(args)
    from hil.benchmarks import mqtt as mqtt_bench
    from hil.benchmarks.startup import check_output, save

    check_output(args.output)
    result = mqtt_bench.measure(runs, args.messages)
    path = save(result, args.output)
    for qos, entry in result["qos"].items():
        realm, floor = entry["realm_path"], entry["floor"]
        print(f"QoS {qos} ({entry['mapping'].rsplit('/', 1)[-1]}): DeviceMqtt -> realm {realm['median_msgs_per_s']:.0f} msg/s "
              f"(lost {realm['lost']}), -> bare subscriber {floor['median_msgs_per_s']:.0f} msg/s "
              f"(lost {floor['lost']}), ratio {entry['ratio']:.2f}")
    verdict = "meets" if result["meets_goal"] else "MISSES"
    print(f"{verdict} the goal (>= {result['goal_ratio']} of the floor at every QoS, 0 lost at QoS 1 and 2; "
          f"{result['lost_guaranteed']} lost); medians of {runs} rounds; saved {path}")
    return 0


# The fuzz benchmark draws from the Hypothesis strategies in ``fixtures``; the engine must not
# import fixtures, so the CLI (the application's top layer, like ``hil run`` driving pytest)
# loads it by name, as pytest loads plugins.
FUZZ_BENCHMARK_MODULE = "hil.fixtures.fuzz_benchmark"


def run_fuzz(args: argparse.Namespace) -> int:
    import importlib

    from hil.benchmarks.startup import check_output, save

    check_output(args.output)
    fuzz = importlib.import_module(FUZZ_BENCHMARK_MODULE)
    result = fuzz.measure(args.examples)
    path = save(result, args.output)
    stages, share = result["stages"], result["share_of_wall"]
    print(f"property 2 end to end: {result['examples_per_s']:.1f} examples/s "
          f"({result['counts']['examples']} examples in {result['wall_s']:.1f} s)")
    for name in ("sdk", "broker", "realm", "reconnect"):
        print(f"  {name:<9} median {stages[name]['median_ms']:.2f} ms, p90 {stages[name]['p90_ms']:.2f} ms, "
              f"{share[name]:.0%} of the wall time")
    print(f"  other     {share['other']:.0%} (oracle verdicts, /_sim bookkeeping); saved {path}")
    return 0
