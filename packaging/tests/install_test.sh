#!/usr/bin/env bash
# `make install PREFIX=… DESTDIR=…` (its recipe alone: `-o build` takes the tree as built)
# into a staging directory: the programs arrive executable and stripped, the installed
# proxy runs, and the unit names the installed binary under PREFIX, not the staging
# directory.
set -euo pipefail
source_dir=$1
build_dir=$2
prefix=/opt/vp-install-test

fail() { echo "install_test: $*" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
if ! log=$(make --no-print-directory -C "$source_dir" -o build install BUILD_DIR="$build_dir" PREFIX="$prefix" \
             DESTDIR="$stage" 2>&1); then
  fail "make install failed: $log"
fi

for program in verified-proxy verified-proxy-sim; do
  file="$stage$prefix/bin/$program"
  [[ -f $file ]] || fail "$file was not installed"
  [[ -x $file ]] || fail "$file is not executable"
  sections=$(readelf -S --wide "$file") || fail "readelf cannot read $file"
  if grep -Eq '\.debug_|\.symtab' <<<"$sections"; then
    fail "$file is not stripped: $(grep -Eo '\.(debug_[a-z_]+|symtab)' <<<"$sections" | sort -u | tr '\n' ' ')"
  fi
  # file(1) is not part of a minimal Debian (readelf, from binutils, comes with g++): a second opinion when present.
  if command -v file >/dev/null 2>&1; then
    [[ $(file -b "$file") == *", stripped"* ]] || fail "file(1) does not call $file stripped: $(file -b "$file")"
  fi
done
# Nothing installed outside the prefix, and nothing left unstaged in it.
unexpected=$(cd "$stage" && find . -type f | sort | grep -vxF -e ".$prefix/bin/verified-proxy" \
               -e ".$prefix/bin/verified-proxy-sim" -e ".$prefix/lib/systemd/system/verified-proxy.service") || true
[[ -z $unexpected ]] || fail "unexpected files installed: $unexpected"

version=$("$stage$prefix/bin/verified-proxy" --version) || fail "installed verified-proxy --version failed"
[[ $version == "verified-proxy "[0-9]* ]] || fail "installed verified-proxy --version printed '$version'"
sim_version=$("$stage$prefix/bin/verified-proxy-sim" --version) || fail "installed verified-proxy-sim --version failed"
[[ $sim_version == *"$(cut -d' ' -f2 <<<"$version")"* ]] || fail "the simulator says '$sim_version', the proxy '$version'"

unit="$stage$prefix/lib/systemd/system/verified-proxy.service"
[[ -f $unit ]] || fail "$unit was not installed"
grep -qx "ExecStart=$prefix/bin/verified-proxy serve" "$unit" ||
  fail "$unit does not start $prefix/bin/verified-proxy: $(grep '^ExecStart=' "$unit")"
if grep -q '@[A-Z_]*@' "$unit"; then fail "$unit has unsubstituted @VARIABLES@"; fi
echo "install_test: $prefix/bin/{verified-proxy,verified-proxy-sim} stripped and running ($version), unit installed"
