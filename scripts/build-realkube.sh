#!/usr/bin/env bash
# Builds a real kube-apiserver and etcd into .realkube/bin/ from the Go modules in
# tests/realkube/ (Kubernetes and etcd used as libraries, at the versions their
# go.mod files pin). Idempotent: Go's build cache makes a second run take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

# $GO, else go on PATH, else Go's default install place.
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
if ! [[ -x "$GO" ]]; then
	echo "realkube: Go is not installed (no 'go' on PATH): install Go 1.26 or newer (https://go.dev/doc/install) to build the real kube-apiserver and etcd" >&2
	exit 1
fi

OUT=.realkube/bin
mkdir -p "$OUT"
start=$SECONDS
# No VCS stamp: a commit to this repository must not make the binaries relink.
export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"

# The version stamps Kubernetes' own build sets (hack/lib/version.sh): the tree state
# is "archive" as for a source tarball, and no commit, since the module zip carries none;
# the build date is the release's (the module's time), so the link is cached.
kube_version=$(cd tests/realkube/apiserver && "$GO" list -m -f '{{.Version}}' k8s.io/kubernetes)
build_date=$(cd tests/realkube/apiserver && "$GO" list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
major=${kube_version#v}; major=${major%%.*}
minor=${kube_version#v*.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
	ldflags+=" -X $pkg.gitTreeState=archive -X $pkg.gitCommit= -X $pkg.buildDate=$build_date"
done

build() { # name, module folder, ldflags
	echo "==> go build $1 ($2)"
	# go build skips the link when the binary there is up to date (its build ID matches).
	if ! (cd "$2" && "$GO" build -trimpath -ldflags "$3" -o "$OLDPWD/$OUT/$1" .); then
		echo "realkube: 'go build' in $2 failed (see above)" >&2
		exit 1
	fi
}
build etcd tests/realkube/etcd "-s -w"
build kube-apiserver tests/realkube/apiserver "$ldflags"

"$OUT/kube-apiserver" --version
"$OUT/etcd" --version | sed -n 1p  # sed reads to the end: no SIGPIPE under pipefail
echo "==> realkube built in $((SECONDS - start)) s"
