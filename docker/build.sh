#!/bin/sh
# docker/build.sh: every step of the container build, in one script that the
# Dockerfile RUNs and the CI test (tests/docker/test_dockerfile.py) runs too,
# so that what CI checks is what the image does. No engine is needed to run
# it: each subcommand is plain apt-get, meson and ninja.
#
#   build.sh deps            install the build dependencies (as root; apt-get
#                            runs only when one is missing, so it is a no-op on
#                            a machine that has them, like CI's)
#   build.sh build DESTDIR   release build of the source tree this script is
#                            in, installed under DESTDIR (the README's steps:
#                            meson setup, ninja, meson install)
#   build.sh runtime-deps    print the runtime packages, one line
#   build.sh runtime         runtime stage (as root): install those packages,
#                            empty apt's lists, create the state directory
#                            owned by the image's user
#   build.sh uid             print the image's numeric user and group id
#
# Environment: PF_JOBS (ninja -j; default: ninja's), PF_BUILDDIR (the meson
# build directory for `build`; default: a temporary one, removed after).
# POSIX sh: the Dockerfile runs it as `sh build.sh`, so neither bash nor an
# executable bit is assumed.
set -eu

# Build dependencies: the -dev packages of tests/run-all, minus what only the
# tests need (clang, the real servers). meson pulls python3.
BUILD_DEPS="meson ninja-build pkg-config gcc zlib1g-dev libdeflate-dev libuv1-dev libcurl4-openssl-dev libssl-dev libinih-dev"

# Runtime packages: the owners of the libraries the binary links (ldd +
# dpkg -S on Debian 12; the test checks that nothing else is linked), and
# the CA bundle libcurl needs for https outputs and targets. libc6 is in the
# base image. Everything libcurl4 pulls (libssl3, libnghttp2-14, ...) comes
# with it through apt.
RUNTIME_DEPS="libuv1 libcurl4 libinih1 libdeflate0 ca-certificates"

# The image's user: no passwd entry is needed for a numeric id (the
# distroless convention: 65532 is "nonroot"). Kubernetes' runAsNonRoot can
# only verify a numeric USER.
PF_UID=65532

STATE_DIR=/var/lib/promflux

src=$(cd "$(dirname "$0")/.." && pwd)

die() {
	echo "docker/build.sh: $*" >&2
	exit 1
}

# missing PKG...: prints the packages of the list that are not installed.
missing() {
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			printf '%s ' "$p"
		fi
	done
}

# apt_install PKG...: installs the missing ones of PKG, without recommends.
apt_install() {
	need=$(missing "$@")
	if [ -z "$need" ]; then
		echo "docker/build.sh: already installed: $*"
		return 0
	fi
	[ "$(id -u)" -eq 0 ] || die "missing packages ($need); run as root or install them"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086 # word splitting of the list is wanted
	apt-get install -y -q --no-install-recommends $need </dev/null
}

cmd=${1:-}
case $cmd in
deps)
	# shellcheck disable=SC2086
	apt_install $BUILD_DEPS
	;;
build)
	[ $# -eq 2 ] || die "usage: build.sh build DESTDIR"
	case $2 in
	/*) destdir=$2 ;;
	*) destdir=$(pwd)/$2 ;;
	esac
	if [ -n "${PF_BUILDDIR:-}" ]; then
		builddir=$PF_BUILDDIR
		rm -rf "$builddir"
	else
		builddir=$(mktemp -d "${TMPDIR:-/tmp}/promflux-build.XXXXXX")
		trap 'rm -rf "$builddir"' EXIT
	fi
	# The README's steps, with a release build installed under /usr.
	meson setup --buildtype=release --prefix=/usr "$builddir" "$src"
	ninja -C "$builddir" ${PF_JOBS:+-j "$PF_JOBS"}
	# --strip: a release build has no debug information to keep, and the
	# symbol table is a third of the binary.
	meson install -C "$builddir" --no-rebuild --strip --destdir "$destdir"
	;;
runtime-deps)
	echo "$RUNTIME_DEPS"
	;;
runtime)
	# shellcheck disable=SC2086
	apt_install $RUNTIME_DEPS
	rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
	# The state directory: a VOLUME in the image, so a named volume made from
	# it starts owned by the user the daemon runs as.
	mkdir -p "$STATE_DIR" /etc/promflux
	chown "$PF_UID:$PF_UID" "$STATE_DIR"
	chmod 0750 "$STATE_DIR"
	;;
uid)
	echo "$PF_UID"
	;;
*)
	die "unknown subcommand '${cmd}' (allowed: deps, build DESTDIR, runtime-deps, runtime, uid)"
	;;
esac
