#!/usr/bin/env bash
# Type-checks the whole addon (napi surface + core) for both Apple targets from Linux, so macOS can
# never silently stop compiling. Idempotent; everything it fetches stays under .work/apple/.
#
#   bash scripts/apple-check.sh            cargo check for aarch64- and x86_64-apple-darwin
#   bash scripts/apple-check.sh --build    also links perfprobe.darwin-{arm64,x64}.node with zig
#   bash scripts/apple-check.sh --fixture  only rebuilds the Mach-O test fixtures (committed, ~70 KB)
#                                          from crates/core/tests/fixtures/macho/*.c with zig
#
# No Apple target std is shipped for this toolchain, so std is built from source (-Zbuild-std) from
# the exact library source of the compiler in use: a newer rust-src fails on `core` intrinsics the
# 1.95 compiler lacks. Debian's trixie-backports ships that source; it is fetched with a private apt
# configuration (the machine's own apt set-up is left alone) and checked against a pinned sha256.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK="$ROOT/.work/apple"
TOOLCHAIN="${PERFPROBE_APPLE_TOOLCHAIN:-1.95.0}"
SRC_DEB_VERSION='1.95.0+dfsg1-2~bpo13+1'
SRC_DEB_SHA256='7b76db5b880a77f9e52975d2baa6209d2f76d2c9c2789515c3088cb960e2c83b'
LIBRARY="$WORK/rust-src/usr/src/rustc-1.95.0/library"
TARGETS=(aarch64-apple-darwin x86_64-apple-darwin)
ZIGLANG_VERSION='0.17.1'
ZIGBUILD_VERSION='0.24.1'

log() { printf 'apple-check: %s\n' "$*" >&2; }

toolchain() {
  if ! rustc "+$TOOLCHAIN" --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null; then
      log "installing Rust $TOOLCHAIN (the compiler that matches the pinned library source)"
      rustup toolchain install "$TOOLCHAIN" --profile minimal
    else
      log "Rust $TOOLCHAIN is needed (rustc +$TOOLCHAIN); install it with rustup"; exit 1
    fi
  fi
}

# The first Debian mirror the machine's apt sources name (deb822 `URIs:` or one-line `deb`).
debian_mirror() {
  local uri
  uri=$( (grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
          grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            sed -E 's/^deb (\[[^]]*\] )?//' | awk '{print $1}') | grep -v security | head -n1)
  echo "${uri:-http://deb.debian.org/debian}"
}

rust_src() {
  [ -f "$WORK/rust-src/.complete" ] && [ "$(cat "$WORK/rust-src/.complete")" = "$SRC_DEB_VERSION" ] && return
  local apt="$WORK/apt" deb
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/etc"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) trixie-backports main" \
    >"$apt/etc/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt/etc/sources.list" -o Dir::Etc::SourceParts=/nonexistent
              -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  log "fetching rust-src $SRC_DEB_VERSION (45 MB) from trixie-backports"
  apt-get -qq "${opts[@]}" update
  (cd "$apt" && rm -f rust-src_*.deb && apt-get -qq "${opts[@]}" download "rust-src=$SRC_DEB_VERSION")
  deb=$(ls "$apt"/rust-src_*.deb)
  echo "$SRC_DEB_SHA256  $deb" | sha256sum -c --quiet -
  rm -rf "$WORK/rust-src" && mkdir -p "$WORK/rust-src"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$WORK/rust-src" ./usr/src/rustc-1.95.0/library
  rm -f "$deb"
  echo "$SRC_DEB_VERSION" >"$WORK/rust-src/.complete"
}

# One target folder apart from `target/`: build-std's bootstrap environment must not invalidate the
# host build's fingerprints.
apple_cargo() {
  RUSTC_BOOTSTRAP=1 __CARGO_TESTS_ONLY_SRC_ROOT="$LIBRARY" MACOSX_DEPLOYMENT_TARGET=11.0 \
    CARGO_TARGET_DIR="$WORK/target" cargo "+$TOOLCHAIN" "$@"
}

check() {
  local t t0
  for t in "${TARGETS[@]}"; do
    t0=$(date +%s)
    apple_cargo check -q -Zbuild-std=std,panic_abort --target "$t" -p rspack-perfprobe -p perfprobe-core --all-targets
    log "cargo check --target $t: ok ($(( $(date +%s) - t0 )) s)"
  done
}

VENV="$WORK/venv"
zig_venv() {
  if [ ! -x "$VENV/bin/cargo-zigbuild" ]; then
    log "installing ziglang $ZIGLANG_VERSION and cargo-zigbuild $ZIGBUILD_VERSION into .work/apple/venv (PyPI)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$ZIGBUILD_VERSION"
  fi
}

# The fixtures: fixture.c with frame pointers (Apple's default), frameless.c without, one dylib
# per architecture. Pinned zig, so a rebuild gives the layouts tests/macho.rs expects.
fixture() {
  zig_venv
  local dir="$ROOT/crates/core/tests/fixtures/macho" a zig=("$VENV/bin/python" -m ziglang)
  for a in aarch64 x86_64; do
    "${zig[@]}" cc -target "$a-macos.11.0" -O2 -fomit-frame-pointer -c "$dir/frameless.c" -o "$WORK/frameless-$a.o"
    "${zig[@]}" cc -target "$a-macos.11.0" -O2 -shared -Wl,-S -Wl,-install_name,@rpath/fixture-$a.dylib -o "$dir/fixture-$a.dylib" "$dir/fixture.c" "$WORK/frameless-$a.o"
    log "built crates/core/tests/fixtures/macho/fixture-$a.dylib"
  done
}

zigbuild() {
  zig_venv
  local venv="$VENV" t out
  for t in "${TARGETS[@]}"; do
    PATH="$venv/bin:$PATH" apple_cargo zigbuild -q --release -Zbuild-std=std,panic_abort --target "$t" -p rspack-perfprobe
    case $t in aarch64-*) out=perfprobe.darwin-arm64.node ;; *) out=perfprobe.darwin-x64.node ;; esac
    cp "$WORK/target/$t/release/librspack_perfprobe.dylib" "$WORK/$out"
    log "linked .work/apple/$out"
  done
}

if [ "${1:-}" = "--fixture" ]; then mkdir -p "$WORK" && fixture && exit 0; fi
if [ "$(uname -s)" != Linux ] || ! command -v apt-get >/dev/null; then
  # On a Mac the native build and tests check this (.github/workflows/macos.yml); the recipe needs
  # Debian's rust-src.
  log "skipped: the cross check runs on Debian-like Linux hosts"; exit 0
fi
toolchain
rust_src
check
if [ "${1:-}" = "--build" ]; then zigbuild; fi
