#!/usr/bin/env bash
# Pack a built Fieldcast .app into a compressed disk image with the usual drag-to-Applications link.
#
#   bash packaging/macos/build_dmg.sh "dist/Fieldcast.app" dist/Fieldcast-0.1.0.dmg
set -euo pipefail

app="${1:?usage: build_dmg.sh APP_BUNDLE OUTPUT.dmg}"
dmg="${2:?usage: build_dmg.sh APP_BUNDLE OUTPUT.dmg}"
[ -d "$app" ] || { echo "build_dmg.sh: no app bundle at $app" >&2; exit 1; }
name="$(basename "$app" .app)"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
cp -R "$app" "$stage/"
ln -s /Applications "$stage/Applications"
rm -f "$dmg"
hdiutil create -volname "$name" -srcfolder "$stage" -fs HFS+ -format UDZO -ov "$dmg"
hdiutil verify "$dmg"
du -h "$dmg"
