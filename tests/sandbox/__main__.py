"""``python -m tests.sandbox up|down|env``: the local sandbox for trying and testing the operator.

python -m tests.sandbox up      # start both servers, print the environment to export
python -m tests.sandbox up --kube real   # the real kube-apiserver and etcd (make realkube)
eval "$(python -m tests.sandbox env)"
python -m tests.sandbox down    # stop them

With ``--kube real`` the CRD and deploy/'s RBAC are installed, KUBECONFIG is an
admin's, and .sandbox/realkube/kubeconfig-operator logs in as the operator's
service account (what deploy/'s RBAC grants, nothing more).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from tests.sandbox import cluster, realkube

DEFAULT_DIR = cluster.ROOT / ".sandbox"


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the sub-command."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.sandbox",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["up", "down", "env"])
    parser.add_argument(
        "--dir",
        type=pathlib.Path,
        default=DEFAULT_DIR,
        help="where the kubeconfig, state and logs live (default: .sandbox)",
    )
    parser.add_argument(
        "--no-throttle",
        action="store_true",
        help="switch off the simulator's AWS request throttling",
    )
    parser.add_argument(
        "--kube",
        choices=["emulator", "real"],
        default="emulator",
        help="the Kubernetes API emulator (default), or the real kube-apiserver and etcd "
        "that 'make realkube' builds",
    )
    args = parser.parse_args(argv)
    if args.command == "up":
        if (args.dir / "state.json").exists():
            print(f"a sandbox is already up in {args.dir}; run 'down' first", file=sys.stderr)
            return 1
        try:
            sandbox = cluster.Sandbox.up(args.dir, throttle=not args.no_throttle, kube=args.kube)
        except realkube.NotBuiltError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        what = "Kubernetes API emulator" if sandbox.emulated else "kube-apiserver (real)  "
        print(f"# {what}: {sandbox.kube_url}", file=sys.stderr)
        print(f"# EC2 simulator:           {sandbox.ec2_url}", file=sys.stderr)
        print(
            f'# to use it: eval "$(python -m tests.sandbox env --dir {args.dir})"', file=sys.stderr
        )
        print((args.dir / "env").read_text(), end="")
        return 0
    if not (args.dir / "state.json").exists():
        print(f"no sandbox is up in {args.dir}", file=sys.stderr)
        return 1
    if args.command == "env":
        print((args.dir / "env").read_text(), end="")
        return 0
    cluster.Sandbox.load(args.dir).down()
    print("sandbox stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
