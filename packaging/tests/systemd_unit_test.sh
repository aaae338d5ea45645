#!/usr/bin/env bash
# The installed unit's environment makes the proxy read /etc/verified-proxy/config.toml and
# cache below /var/cache/verified-proxy (its ConfigurationDirectory= and CacheDirectory=);
# the unit passes `systemd-analyze verify` (which only warns, exit 0, about unknown keys
# and bad values, so any output fails the test) and keeps a low exposure score in
# `systemd-analyze security`. verify checks that ExecStart exists, so the copy checked
# here starts the binary in the build tree. Exit 77 (skip) without a usable
# systemd-analyze.
set -euo pipefail
build_dir=$1
built_binary=$2
prefix=/opt/vp-unit-test

fail() { echo "systemd_unit_test: $*" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
DESTDIR="$work/stage" cmake --install "$build_dir" --component systemd --prefix "$prefix" >/dev/null
installed="$work/stage$prefix/lib/systemd/system/verified-proxy.service"
unit="$work/verified-proxy.service"
sed "s|^ExecStart=$prefix/bin/verified-proxy |ExecStart=$built_binary |" "$installed" >"$unit"
grep -qx "ExecStart=$built_binary serve" "$unit" || fail "unexpected ExecStart in $installed"

# The unit's Environment= with its specifiers as systemd expands them for a system
# service (%E = /etc, %C = /var/cache), both moved below $work: the proxy must find the
# config file in ConfigurationDirectory= and default its cache into CacheDirectory=.
grep -qx 'ConfigurationDirectory=verified-proxy' "$unit" || fail "no ConfigurationDirectory=verified-proxy"
grep -qx 'CacheDirectory=verified-proxy' "$unit" || fail "no CacheDirectory=verified-proxy"
environment=$(sed -n 's/^Environment=//p' "$unit")
environment=${environment//%E/$work/etc}
environment=${environment//%C/$work/cache}
mkdir -p "$work/etc/verified-proxy"
printf 'port = 18123\n' >"$work/etc/verified-proxy/config.toml"
read -r -a assignments <<<"$environment"
effective=$(env -i "${assignments[@]}" "$built_binary" print-config) || fail "print-config under the unit's environment failed"
grep -qx "# config file: $work/etc/verified-proxy/config.toml" <<<"$effective" ||
  fail "the unit's environment ($environment) does not lead to /etc/verified-proxy/config.toml"
grep -qx 'port = 18123' <<<"$effective" || fail "the config file's port was not applied"
[[ " ${assignments[*]} " == *" XDG_CACHE_HOME=$work/cache "* ]] ||
  fail "the unit's environment ($environment) does not put the collateral cache in /var/cache/verified-proxy"

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "systemd_unit_test: skipped: systemd-analyze not found (Debian package systemd)"
  exit 77
fi

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
