#!/usr/bin/env bash
# Installs PostgreSQL 15 and builds pgvector for it, for tests and CI (Debian bookworm).
#
# Bookworm's archive has no pgvector package; trixie's source package is pgvector 0.8.0 (halfvec,
# sparsevec, iterative index scans). Rather than add trixie to the system's apt sources (that would let a later
# `apt-get upgrade` pull trixie binaries onto a bookworm machine), we fetch only trixie's *source*
# package through a private apt configuration and build it against the installed server.
#
# Idempotent: exits at once when both the server binaries and the extension are already installed
# (set PGEMBED_SETUP_FORCE=1 to reinstall and rebuild anyway).
set -euo pipefail

PG_MAJOR=15
PG_BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
PG_CONFIG="${PG_BIN}/pg_config"
SOURCE_SUITE=trixie
SOURCE_PACKAGE=pgvector

say() { printf 'setup-postgres: %s\n' "$*"; }
die() {
  printf 'setup-postgres: error: %s\n' "$*" >&2
  exit 1
}

vector_control() {
  [[ -x "$PG_CONFIG" ]] || return 1
  local sharedir
  sharedir="$("$PG_CONFIG" --sharedir)"
  [[ -f "${sharedir}/extension/vector.control" ]] || return 1
  printf '%s\n' "${sharedir}/extension/vector.control"
}

if [[ "${PGEMBED_SETUP_FORCE:-0}" != 1 && -x "${PG_BIN}/initdb" ]] && control="$(vector_control)"; then
  version="$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$control")"
  say "PostgreSQL ${PG_MAJOR} ($("${PG_BIN}/postgres" --version)) and pgvector ${version} already installed; nothing to do"
  exit 0
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
    say "not root: using sudo for apt-get and make install"
  else
    die "installing packages needs root and sudo is not available; hint: run 'sudo bash scripts/setup-postgres.sh' or run it as root"
  fi
fi

export DEBIAN_FRONTEND=noninteractive

# A machine fresh from a container image may have empty package lists; refresh them only then.
if ! apt-cache show "postgresql-server-dev-${PG_MAJOR}" >/dev/null 2>&1; then
  say "package lists do not know postgresql-server-dev-${PG_MAJOR}: running apt-get update"
  "${SUDO[@]}" apt-get update
fi

# clang/llvm come in through postgresql-server-dev (PGXS builds LLVM bitcode for JIT); dpkg-dev
# provides dpkg-source, which `apt-get source` uses to unpack.
packages=("postgresql-${PG_MAJOR}" "postgresql-server-dev-${PG_MAJOR}" make gcc dpkg-dev)
say "apt-get install -y ${packages[*]}"
"${SUDO[@]}" apt-get install -y --no-install-recommends "${packages[@]}"

# The Debian archive mirror the system already uses: first `deb` URI from sources.list (one-line
# format) or *.sources (deb822 `URIs:`) that is not the security archive. Read at run time so the
# repository never names a registry host.
find_mirror() {
  local file line uri
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$file" ]] || continue
    while read -r line; do
      # deb [options] uri suite components…
      line="${line%%#*}"
      [[ "$line" =~ ^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]]+([^[:space:]]+) ]] || continue
      uri="${BASH_REMATCH[2]}"
      [[ "$uri" == *security* || "${BASH_REMATCH[3]}" == *-security ]] && continue
      [[ "$uri" == */debian || "$uri" == */debian/ ]] || continue
      printf '%s\n' "${uri%/}"
      return 0
    done <"$file"
  done
  for file in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$file" ]] || continue
    # Stanzas are separated by blank lines; print the URIs of each stanza that is not security.
    uri="$(awk '
      BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; suites = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^[Uu][Rr][Ii][Ss]:/) { uris = $i; sub(/^[^:]*:[ \t]*/, "", uris) }
          if ($i ~ /^[Ss]uites:/) { suites = $i; sub(/^[^:]*:[ \t]*/, "", suites) }
          if ($i ~ /^[Ee]nabled:[ \t]*[Nn]o/) { enabled = "no" }
        }
        if (enabled == "no" || uris == "" || suites ~ /-security/) next
        n = split(uris, list, /[ \t]+/)
        for (j = 1; j <= n; j++) if (list[j] !~ /security/ && list[j] ~ /\/debian\/?$/) { print list[j]; exit }
      }' "$file")"
    if [[ -n "$uri" ]]; then
      printf '%s\n' "${uri%/}"
      return 0
    fi
  done
  return 1
}

mirror="$(find_mirror)" || die "no Debian archive mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d/*.sources; hint: add the main Debian archive to apt's sources"
say "Debian mirror from the system's apt sources: ${mirror}"

work="$(mktemp -d -t pgembed-pgvector.XXXXXX)"
# mktemp makes it 0700; apt's unprivileged _apt downloader must be able to reach the dirs inside.
chmod 0755 "$work"
cleanup() { "${SUDO[@]}" rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "${work}/lists/partial" "${work}/cache/archives/partial" "${work}/src"
printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
  "$mirror" "$SOURCE_SUITE" >"${work}/sources.list"
# apt downloads as the unprivileged _apt user when it runs as root; let it write into our dirs.
if id _apt >/dev/null 2>&1; then
  "${SUDO[@]}" chown -R _apt "${work}/lists" "${work}/cache" "${work}/src"
fi

# Every path apt would write (lists, caches) points into $work, and the system's source lists are
# replaced, so neither /etc/apt nor /var/lib/apt nor /var/cache/apt changes.
apt_private=(
  -o "Dir::Etc::SourceList=${work}/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=${work}/lists"
  -o "Dir::Cache=${work}/cache"
  -o "Dir::Cache::pkgcache=${work}/cache/pkgcache.bin"
  -o "Dir::Cache::srcpkgcache=${work}/cache/srcpkgcache.bin"
  -o "APT::Get::List-Cleanup=false"
)

say "apt-get update (private: deb-src ${mirror} ${SOURCE_SUITE} main)"
"${SUDO[@]}" apt-get "${apt_private[@]}" update

say "apt-get source ${SOURCE_PACKAGE} (${SOURCE_SUITE}) into ${work}/src"
(cd "${work}/src" && "${SUDO[@]}" apt-get "${apt_private[@]}" source --only-source "$SOURCE_PACKAGE")

srcdir="$(find "${work}/src" -mindepth 1 -maxdepth 1 -type d -name "${SOURCE_PACKAGE}-*" | head -n 1)"
[[ -n "$srcdir" ]] || die "apt-get source did not unpack ${SOURCE_PACKAGE} into ${work}/src"
say "building $(basename "$srcdir") against $("$PG_CONFIG" --version)"
"${SUDO[@]}" make -C "$srcdir" PG_CONFIG="$PG_CONFIG"
"${SUDO[@]}" make -C "$srcdir" PG_CONFIG="$PG_CONFIG" install

control="$(vector_control)" || die "make install finished but vector.control is not in $("$PG_CONFIG" --sharedir)/extension"
say "installed pgvector $(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$control") (${control})"
