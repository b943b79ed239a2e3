#!/bin/sh
# install-config.sh SRC DIR: meson's install step for the configuration.
# Installs SRC as DIR/promflux.ini (under $DESTDIR) only when no file is
# there yet: `meson install` after an upgrade must never overwrite the
# configuration an administrator edited. The unchanged reference is
# installed beside the documentation on every install.
set -eu
src=$1
dir=${DESTDIR:-}$2
if [ -e "$dir/promflux.ini" ]; then
	echo "Keeping existing $dir/promflux.ini (not overwritten)"
else
	mkdir -p "$dir"
	cp "$src" "$dir/promflux.ini"
	chmod 0644 "$dir/promflux.ini"
	echo "Installing $src to $dir/promflux.ini"
fi
