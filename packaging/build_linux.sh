#!/usr/bin/env bash
# Build the Linux installers of Fieldcast: the Player and Studio one-folder bundles (PyInstaller) and a .deb
# for each (dpkg-deb), smoke-test each bundle, print the sizes and fail when one is over its budget
# (packaging/size_budget.txt).
#
#   bash packaging/build_linux.sh                 # both editions (what `make package` runs)
#   EDITIONS=player bash packaging/build_linux.sh # one edition
#
# Each edition is built in its own virtual environment, build/venv-<edition>, holding only what that edition
# ships (packaging/edition_requirements.py, at the versions of requirements-lock.txt), so nothing from the
# development environment (tests, lint, benchmarks) can end up in a bundle. The environments are rebuilt
# only when the pins, pyproject.toml or the build requirements change.
#
# Output: dist/fieldcast-player/, dist/fieldcast/ (bundles) and dist/fieldcast-player_<v>_<arch>.deb,
# dist/fieldcast_<v>_<arch>.deb.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
EDITIONS="${EDITIONS:-player studio}"
BUILD="$ROOT/build"
DIST="$ROOT/dist"
NICE=(nice -n "${NICENESS:-10}")
BUDGET_FILE="$ROOT/packaging/size_budget.txt"
VERSION="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' fieldcast/__init__.py)"
ARCH="$(dpkg --print-architecture)"

log() { printf '\n== %s\n' "$*"; }
die() { printf 'build_linux.sh: %s\n' "$*" >&2; exit 1; }

command -v dpkg-deb >/dev/null || die "dpkg-deb not found (this script builds Debian packages)"
[ -n "$VERSION" ] || die "cannot read __version__ from fieldcast/__init__.py"

package_name() { [ "$1" = studio ] && echo fieldcast || echo "fieldcast-$1"; }

# Budget of a key (an edition, or "<edition>.deb") in MiB, from packaging/size_budget.txt.
budget() {
    local value
    value="$(awk -v k="$1" '!/^[[:space:]]*(#|$)/ && $1 == k { print $2 }' "$BUDGET_FILE")"
    [[ "$value" =~ ^[0-9]+$ ]] || die "no budget for '$1' in $BUDGET_FILE"
    echo "$value"
}

# 1. A build environment holding the edition's requirements and PyInstaller, nothing else.
make_venv() {
    local edition="$1" venv="$BUILD/venv-$1" reqs="$BUILD/requirements-$1.txt" stamp want
    mkdir -p "$BUILD"
    "$PYTHON" packaging/edition_requirements.py "$edition" > "$reqs"
    want="$(cat "$reqs" requirements-lock.txt | sha256sum | cut -d' ' -f1)"
    stamp="$venv/.fieldcast-build-env"
    if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        echo "build environment $venv is up to date"
        return
    fi
    log "$edition: creating $venv"
    rm -rf "$venv"
    "${NICE[@]}" "$PYTHON" -m venv "$venv"
    "${NICE[@]}" "$venv/bin/python" -m pip install --quiet --upgrade "pip>=24"
    "${NICE[@]}" "$venv/bin/python" -m pip install --quiet -c requirements-lock.txt -r "$reqs"
    if [ "$edition" = player ] && "$venv/bin/python" -c "import torch" 2>/dev/null; then
        die "torch is installed in $venv: the Player must not ship it"
    fi
    echo "$want" > "$stamp"
}

# 2. The one-folder bundle, then its smoke test, run from outside the source tree with a bare environment.
make_bundle() {
    local edition="$1" name
    name="$(package_name "$edition")"
    log "$edition: PyInstaller bundle dist/$name"
    FIELDCAST_EDITION="$edition" "${NICE[@]}" "$BUILD/venv-$edition/bin/pyinstaller" \
        --noconfirm --clean --log-level WARN \
        --distpath "$DIST" --workpath "$BUILD/pyinstaller-$edition" \
        packaging/fieldcast.spec
    [ -x "$DIST/$name/fieldcast" ] || die "PyInstaller did not produce $DIST/$name/fieldcast"
    if [ "$edition" = player ] && [ -d "$DIST/$name/_internal/torch" ]; then
        die "the Player bundle contains torch"
    fi
    log "$edition: smoke test of the bundle"
    # On a real (or virtual) X display when there is one: Qt's offscreen platform does not create the
    # OpenGL canvas, so a missing piece of it would go unnoticed there.
    local empty screen=()
    empty="$(mktemp -d)"
    if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null; then
        screen=(xvfb-run -a -s "-screen 0 1600x1000x24")
    fi
    (cd "$empty" && env -i HOME="$empty" PATH=/usr/bin:/bin ${DISPLAY:+DISPLAY="$DISPLAY"} \
        "${screen[@]}" "$DIST/$name/fieldcast" --smoke-test) || die "$edition bundle failed its smoke test"
    rm -rf "$empty"
}

# 3. The Debian package: the bundle under /opt, a command in /usr/bin, desktop entry, icons, MIME types.
make_deb() {
    local edition="$1" name root deb desktop conflicts installed_kib
    name="$(package_name "$edition")"
    root="$BUILD/deb-$edition"
    deb="$DIST/${name}_${VERSION}_${ARCH}.deb"
    log "$edition: Debian package $(basename "$deb")"
    rm -rf "$root"
    mkdir -p "$root/DEBIAN" "$root/opt" "$root/usr/bin" "$root/usr/share/applications" \
        "$root/usr/share/mime/packages" "$root/usr/share/icons/hicolor/scalable/apps" \
        "$root/usr/share/icons/hicolor/256x256/apps" "$root/usr/share/doc/$name"
    cp -a "$DIST/$name" "$root/opt/$name"
    ln -s "/opt/$name/fieldcast" "$root/usr/bin/fieldcast"
    desktop="packaging/linux/$name.desktop"
    install -m 644 "$desktop" "$root/usr/share/applications/$name.desktop"
    install -m 644 packaging/linux/fieldcast-mime.xml "$root/usr/share/mime/packages/$name.xml"
    install -m 644 fieldcast/resources/icons/fieldcast.svg "$root/usr/share/icons/hicolor/scalable/apps/"
    install -m 644 fieldcast/resources/icons/fieldcast.png "$root/usr/share/icons/hicolor/256x256/apps/"
    printf 'Fieldcast %s (%s edition)\nProprietary licence.\n' "$VERSION" "$edition" \
        > "$root/usr/share/doc/$name/copyright"
    local summary more=""
    if [ "$edition" = studio ]; then
        conflicts=fieldcast-player
        summary="neural surrogates of physical simulations: generate, train, play"
    else
        conflicts=fieldcast
        summary="play and compare neural surrogates of physical simulations"
        more=$'\n This Player edition cannot train (it has no torch): it opens datasets and\n plays and compares exported ONNX models.'
    fi
    installed_kib="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
    # The bundle carries its libraries (Qt, X11/xcb client libraries, fontconfig, glib ...) except those a
    # program must take from the system: glibc (at least the newest symbol version the bundle uses) and the
    # OpenGL/EGL drivers; the bundled fontconfig and xkbcommon read the system's configuration data.
    # Menu, icon and MIME caches are refreshed by the dpkg triggers of desktop-file-utils, hicolor-icon-theme
    # and shared-mime-info, so the package needs no maintainer scripts.
    local glibc
    glibc="$(glibc_needed "$DIST/$name")"
    cat > "$root/DEBIAN/control" <<EOF
Package: $name
Version: $VERSION
Architecture: $ARCH
Maintainer: Fieldcast <packaging@fieldcast.invalid>
Section: science
Priority: optional
Installed-Size: $installed_kib
Depends: libc6 (>= $glibc), libgl1, libegl1, libxcb1, fontconfig-config, xkb-data
Recommends: libgl1-mesa-dri, fonts-dejavu-core, shared-mime-info, desktop-file-utils, hicolor-icon-theme
Conflicts: $conflicts
Homepage: https://fieldcast.invalid/
Description: $summary
 Fieldcast is a desktop studio for neural surrogates of physical simulations:
 load simulation data or generate it with a built-in reference solver, train a
 surrogate in the background, export it to ONNX and play with it on a canvas.$more
EOF
    "${NICE[@]}" dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" -z"${DEB_LEVEL:-3}" --build "$root" "$deb"
    rm -rf "$root"
}

mib() { du -sm "$1" | cut -f1; }

# Newest glibc symbol version any executable or library of a bundle needs (2.28 if it cannot be told).
glibc_needed() {
    local version
    version="$(find "$1" -type f \( -name '*.so*' -o -perm -u+x \) -print0 |
        xargs -0 objdump -T 2>/dev/null | grep -o 'GLIBC_2\.[0-9]*' | sort -t. -k2 -n -u | tail -n 1 || true)"
    version="${version#GLIBC_}"
    echo "${version:-2.28}"
}

failures=0
report=()
check_size() {
    local key="$1" path="$2" size limit verdict
    size="$(mib "$path")"
    limit="$(budget "$key")"
    if [ "$size" -le "$limit" ]; then verdict=ok; else verdict="OVER BUDGET"; failures=$((failures + 1)); fi
    report+=("$(printf '%-12s %6s MiB  (budget %5s MiB)  %-11s %s' "$key" "$size" "$limit" "$verdict" "${path#"$ROOT"/}")")
}

mkdir -p "$DIST"
for edition in $EDITIONS; do
    case "$edition" in player | studio) ;; *) die "unknown edition '$edition'" ;; esac
    make_venv "$edition"
    make_bundle "$edition"
    make_deb "$edition"
    name="$(package_name "$edition")"
    check_size "$edition" "$DIST/$name"
    check_size "$edition.deb" "$DIST/${name}_${VERSION}_${ARCH}.deb"
done

log "sizes"
printf '%s\n' "${report[@]}"
if [ "$failures" -gt 0 ]; then
    die "$failures artefact(s) over their budget in packaging/size_budget.txt (raise it there only on purpose)"
fi
echo "all artefacts within budget"
