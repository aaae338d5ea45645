#!/usr/bin/env bash
# The installed unit passes `systemd-analyze verify` (which only warns, exit 0, about
# unknown keys and bad values, so any output fails the test) and keeps a low exposure
# score in `systemd-analyze security`. verify checks that ExecStart exists, so the copy
# checked here starts the binary in the build tree. Exit 77 (skip) without a usable
# systemd-analyze.
set -euo pipefail
build_dir=$1
built_binary=$2
prefix=/opt/vp-unit-test

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "systemd_unit_test: skipped: systemd-analyze not found (Debian package systemd)"
  exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
DESTDIR="$work/stage" cmake --install "$build_dir" --component systemd --prefix "$prefix" >/dev/null
installed="$work/stage$prefix/lib/systemd/system/verified-proxy.service"
unit="$work/verified-proxy.service"
sed "s|^ExecStart=$prefix/bin/verified-proxy |ExecStart=$built_binary |" "$installed" >"$unit"
grep -q "^ExecStart=$built_binary " "$unit" || { echo "systemd_unit_test: unexpected ExecStart in $installed" >&2; exit 1; }

# Some containers ship systemd-analyze but cannot run it (no /proc, seccomp, ...): a unit
# that is certainly valid tells that apart from a fault in ours.
printf '[Service]\nExecStart=/bin/true\n' >"$work/probe.service"
if ! probe=$(systemd-analyze verify --man=no "$work/probe.service" 2>&1) || [[ -n $probe ]]; then
  echo "systemd_unit_test: skipped: systemd-analyze verify does not work here: ${probe%%$'\n'*}"
  exit 77
fi

status=0
output=$(systemd-analyze verify --man=no "$unit" 2>&1) || status=$?
if [[ $status -ne 0 || -n $output ]]; then
  echo "systemd_unit_test: systemd-analyze verify (exit $status):" >&2
  echo "$output" >&2
  exit 1
fi
# Exposure is 0 (locked down) to 100 on --threshold's scale (0.0 to 10.0 printed); the unit
# scores 11 (1.1) with systemd 252.
if ! output=$(systemd-analyze security --offline=yes --threshold=20 "$unit" 2>&1); then
  echo "systemd_unit_test: systemd-analyze security: exposure above 2.0:" >&2
  echo "$output" >&2
  exit 1
fi
echo "systemd_unit_test: verify clean; $(grep -o 'Overall exposure level.*' <<<"$output")"
