# Shared by scripts/demo, scripts/test and scripts/bench: make sure the build tools are there and
# the tree is built.  Sourced, not run.

tg_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Installs missing Debian packages as root; as another user prints the apt-get line and stops.
tg_need_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null || {
        echo "apt-get install ${missing[*]} failed" >&2
        exit 1
    }
}

# Configures (once) and builds the tree in DIR (default build/) with extra meson options.
tg_build() {
    local dir=${1:-build}
    shift || true
    tg_need_packages gcc meson ninja-build pkg-config libcriterion-dev python3
    cd "$tg_top" || exit 1
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >/dev/null || { echo "meson setup $dir failed" >&2; exit 1; }
    fi
    meson compile -C "$dir" >/dev/null || { meson compile -C "$dir"; echo "build failed" >&2; exit 1; }
}
