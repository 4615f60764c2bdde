#!/usr/bin/env bash
# Builds prebuilds/linux-x64/genloss-native.node (native/genloss-native.c: XNNPACK convolution
# kernels for TF.js's wasm backend) on Debian 12 from Debian's packages, and places the shared
# libraries it needs beside it (found through an rpath of $ORIGIN), with their licences, so that
# the package runs on a machine that has none of them. Records the source's SHA-256, the
# packages' versions and the glibc the binaries need in prebuilds/linux-x64/build.json.
# Usage: npm run build:native   (as root, or with the packages below already installed)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libxnnpack-dev libpthreadpool-dev libcpuinfo-dev build-essential)
runtime=(libxnnpack0 libpthreadpool0 libcpuinfo0)
if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
  apt-get update
  apt-get install -y --no-install-recommends "${packages[@]}"
fi

source=native/genloss-native.c
out=prebuilds/linux-x64
rm -rf "$out"
mkdir -p "$out/LICENSES"

# Every library is a direct dependency (--no-as-needed), so the loader finds each one through
# this binary's rpath before XNNPACK asks for libcpuinfo and libpthreadpool by name.
gcc -O2 -Wall -Wextra -Werror -std=c11 -fPIC -shared \
  -DNODE_GYP_MODULE_NAME=genloss_native -I/usr/include/node \
  "$source" -o "$out/genloss-native.node" \
  -Wl,--no-as-needed -lXNNPACK -lpthreadpool -lcpuinfo -Wl,--as-needed -lmvec -lm \
  -Wl,--disable-new-dtags -Wl,-rpath,'$ORIGIN' -Wl,-s

for lib in libXNNPACK.so.0 libpthreadpool.so.0 libcpuinfo.so.0; do
  path=$(ldd "$out/genloss-native.node" | awk -v lib="$lib" '$1 == lib { print $3 }')
  [ -n "$path" ] || { echo "build-native: $lib is not linked" >&2; exit 1; }
  cp -L "$path" "$out/$lib"
  strip --strip-unneeded "$out/$lib"
done
for pkg in "${runtime[@]}"; do
  cp "/usr/share/doc/$pkg/copyright" "$out/LICENSES/$pkg.copyright"
done

# The newest GLIBC_x.y symbol version any of the binaries asks for.
glibc=$(objdump -T "$out"/*.node "$out"/*.so.0 | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' |
  sort -V | tail -1)
versions=$(for pkg in "${runtime[@]}"; do
  printf '    "%s": "%s",\n' "$pkg" "$(dpkg-query -W -f='${Version}' "$pkg")"
done | sed '$ s/,$//')
cat >"$out/build.json" <<JSON
{
  "source": "$source",
  "source_sha256": "$(sha256sum "$source" | cut -d' ' -f1)",
  "glibc": "$glibc",
  "platform": "linux-x64",
  "napi_version": 8,
  "compiler": "$(gcc --version | head -1)",
  "debian_packages": {
$versions
  }
}
JSON
ldd "$out/genloss-native.node"
echo "build-native: wrote $out (needs glibc >= $glibc)"
