#!/usr/bin/env bash
# The Dockerfile's runtime stage installs the Debian package of every shared library the
# built proxy links (ldd, then dpkg -S), so a new dependency cannot leave the image
# without it, and runs as a user other than root. Exit 77 (skip) off Debian, or on a Debian release other than the image's,
# where the package names differ.
set -euo pipefail
dockerfile=$1
binary=$2

fail() { echo "container_packages_test: $*" >&2; exit 1; }

# The last stage, its continuation lines joined.
runtime_stage=$(awk '/^FROM /{stage=""} {stage = stage $0 "\n"} END{printf "%s", stage}' "$dockerfile" |
                sed -e ':a' -e '/\\$/{N;s/\\\n/ /;ba' -e '}')
base=$(sed -n 's/^FROM  *\([^ ]*\).*/\1/p' <<<"$runtime_stage")
codename=$(sed -n 's/^debian:\([a-z]*\).*/\1/p' <<<"$base")
[[ -n $codename ]] || fail "the runtime stage's base '$base' is not a debian:<release> image"

if ! command -v dpkg >/dev/null 2>&1 || ! command -v ldd >/dev/null 2>&1; then
  echo "container_packages_test: skipped: needs dpkg and ldd (Debian)"
  exit 77
fi
host_codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
if [[ $host_codename != "$codename" ]]; then
  echo "container_packages_test: skipped: this is Debian '${host_codename:-unknown}', the image is $codename"
  exit 77
fi

# Words after `apt-get install` up to the next shell operator, options dropped.
listed=$(grep -o 'apt-get install[^&;|]*' <<<"$runtime_stage" | sed 's/^apt-get install//' | tr ' ' '\n' |
         grep -v '^-' | grep -v '^$' | sort -u) || true
[[ -n $listed ]] || fail "no apt-get install in the runtime stage of $dockerfile"

package_of() {
  local path=$1 candidate owner
  # Debian's merged /usr: dpkg knows a library under /lib or /usr/lib, whichever it shipped.
  for candidate in "$path" "$(readlink -f "$path")" "/usr$path" "${path#/usr}"; do
    [[ -e $candidate ]] || continue
    if owner=$(dpkg -S "$candidate" 2>/dev/null); then
      echo "${owner%%:*}"
      return 0
    fi
  done
  return 1
}

libraries=$(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
[[ -n $libraries ]] || fail "ldd found no libraries in $binary"
missing=()
checked=0
for library in $libraries; do
  package=$(package_of "$library") || fail "no Debian package owns $library"
  checked=$((checked + 1))
  grep -qx "$package" <<<"$listed" || missing+=("$package ($library)")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  fail "the runtime stage of $dockerfile does not install: ${missing[*]}"
fi

# The proxy must not run as root in the image: the last USER of the runtime stage names
# another user.
runtime_user=$(sed -n 's/^USER  *\([^ ]*\).*/\1/p' <<<"$runtime_stage" | tail -n 1)
[[ -n $runtime_user && $runtime_user != root && $runtime_user != 0 && $runtime_user != 0:* ]] ||
  fail "the runtime stage of $dockerfile runs as '${runtime_user:-root}'"

# Every listed package must exist in this release (a typo would break the image build).
for package in $listed; do
  apt-cache show "$package" >/dev/null 2>&1 || fail "'$package' (runtime stage) is not a $codename package"
done
echo "container_packages_test: the $checked libraries $(basename "$binary") links come from packages the image installs"
