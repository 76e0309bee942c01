#!/usr/bin/env bash
# Fetches the real test images from pinned Debian data packages (run by
# `make testdata`; documented in tests/data/README.md).
#
#   var/cache/debs/<pkg>_<version>_all.deb   apt-get download, sha256 checked
#   var/testdata/images/<name>               the curated photos and drawings
#   var/testdata/formats/<name>              odd files: palette/gray PNGs, a
#                                            truncated JPEG, a GIF, a TIFF
#   var/cache/npm/<tarball>.tgz              npm pack of a pinned package
#                                            (sha256 checked): face-api's demo
#   var/testdata/people/<name>               photos with repeated people (face
#                                            search; tests/data/people.csv)
#   var/testdata/images.txt                  manifest (tab-separated):
#       name  width  height  bytes  sha256  tags  package:path  description
#
# Idempotent: a second run checks a stamp (the hash of this script plus the
# manifest) and exits in milliseconds.  Works as root on a fresh Debian 12
# (apt-get download runs in the writable cache dir; the _apt sandbox user
# is not used) and as an ordinary user.  Needs: apt-get, dpkg-deb, tar,
# sha256sum, python3 (header parsing for the sizes).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${VKV_DEB_CACHE:-var/cache/debs}
OUT=var/testdata
STAMP=$OUT/.stamp

# package  version  sha256 of the .deb
DEBS=(
  "python3-skimage 0.19.3-8 728d88c3e3440f1f3712de0805dc834d29248ff07e1eec8c0f3da07606f752f9"
  "opencv-doc 4.6.0+dfsg-12 4b12681df35878207ac7097dc66184b2ae552e4bf4ddd2af04a0f03ed0b8682a"
  "python-matplotlib-data 3.6.3-1 e4150fcebd35ea11e0f66268da97ce62f98a4cf530c944f755f241da1a9158f9"
  "python3-sklearn 1.2.1+dfsg-1 ca0c6be401d14871c7e93cfdd8d1f561595dc65e6e2ad2501d568aee7f7efc58"
)
# npm packages: key  package  version  sha256 of the npm pack tarball
NPMS=(
  "face-api @vladmandic/face-api 1.7.15 0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031"
)
NPM_CACHE=${VKV_NPM_CACHE:-var/cache/npm}

SK=python3-skimage:usr/lib/python3/dist-packages/skimage/data
CV=opencv-doc:usr/share/doc/opencv-doc/examples
MPL=python-matplotlib-data:usr/share/matplotlib/mpl-data/sample_data
SKL=python3-sklearn:usr/lib/python3/dist-packages/sklearn/datasets/images
FA=face-api:package/demo

# dir|name|package:path|tags|description   (see models.md section 6)
FILES=(
  # people and faces
  "images|grace_hopper.jpg|$MPL/grace_hopper.jpg|person,face,portrait|Grace Hopper, frontal portrait in uniform, US flag behind (US Navy, public domain)"
  "images|astronaut.png|$SK/astronaut.png|person,face,portrait|Eileen Collins smiling in an orange suit (NASA, public domain)"
  "images|camera.png|$SK/camera.png|person,gray|cameraman with a tripod on a lawn, grayscale PNG (CC0)"
  "images|messi5.jpg|$CV/data/messi5.jpg|person,sports_ball,crowd|footballer kicking a ball, crowd behind"
  "images|basketball1.png|$CV/data/basketball1.png|person,gray|two people throwing a basketball indoors, grayscale PNG"
  # street, cars
  "images|scenetext01.jpg|$CV/text/scenetext01.jpg|street,car,person,text|street: NOTICE / DOUBLE PARKING PROHIBITED sign, a car, two people"
  "images|licenseplate_motion.jpg|$CV/data/licenseplate_motion.jpg|car,blur|motion-blurred rear of a car"
  "images|motorcycle_left.png|$SK/motorcycle_left.png|motorcycle|red motorcycle in a garage (Middlebury stereo)"
  # animals
  "images|chelsea.png|$SK/chelsea.png|animal,cat|tabby cat close-up (CC0)"
  "images|baboon.jpg|$CV/data/baboon.jpg|animal,face|mandrill face"
  "images|squirrel_cls.jpg|$CV/data/squirrel_cls.jpg|animal|squirrel on a branch"
  "images|chicky_512.png|$CV/data/chicky_512.png|animal,dog,alpha|small dog close-up, RGBA PNG"
  # objects and scenes
  "images|coffee.png|$SK/coffee.png|cup,dining_table|espresso cup and saucer on a wooden table (CC0)"
  "images|rocket.jpg|$SK/rocket.jpg|rocket,scene|Falcon 9 on the launch pad at dusk (public domain)"
  "images|fruits.jpg|$CV/data/fruits.jpg|fruit,orange|orange, lemon, lime, kiwi"
  "images|stuff.jpg|$CV/data/stuff.jpg|objects|table top: pen, lighter, coin, cap"
  "images|building.jpg|$CV/data/building.jpg|building|hotel facade"
  "images|china.jpg|$SKL/china.jpg|building,scene|Chinese pagoda and lake (CC-BY 2.0, sklearn)"
  "images|flower.jpg|$SKL/flower.jpg|flower|orange dahlia (CC-BY 2.0, sklearn)"
  "images|plant.jpg|$CV/alphamat/input_images/plant.jpg|potted_plant|potted plant (alphamat sample)"
  "images|butterfly.png|$CV/dnn_superres/butterfly.png|animal,small|butterfly wing, 256x256 (super-resolution sample)"
  # text
  "images|bw_text.png|$SK/bw_text.png|text,document|clean rendered paragraph, 10 lines"
  "images|page.png|$SK/page.png|text,document,gray|photo of a printed book page, uneven lighting"
  "images|text.png|$SK/text.png|text,handwriting,gray|handwritten maths on paper"
  "images|scenetext02.jpg|$CV/text/scenetext02.jpg|text,street|sign: Sports Centre / Wivenhoe Park / Conference Centre / Car Parks"
  "images|scenetext03.jpg|$CV/text/scenetext03.jpg|text|the copy centre"
  "images|scenetext04.jpg|$CV/text/scenetext04.jpg|text,car|GM 125"
  "images|scenetext05.jpg|$CV/text/scenetext05.jpg|text,street|NO PARKING"
  "images|scenetext06.jpg|$CV/text/scenetext06.jpg|text|priory galleries at the ship"
  "images|imageTextN.png|$CV/data/imageTextN.png|text,document,palette|rendered paragraph, straight (palette PNG)"
  "images|imageTextR.png|$CV/data/imageTextR.png|text,document,palette,rotated|rendered paragraph, rotated (palette PNG)"
  "images|sudoku.png|$CV/data/sudoku.png|text,digits|printed digits in a grid (photo)"
  # drawings
  "images|anime_input.png|$CV/fuzzy/input.png|drawing,anime,person,alpha|anime-style girl drawing, RGBA PNG (opencv fuzzy/input.png)"
  "images|starry_night.jpg|$CV/data/starry_night.jpg|drawing,painting|Van Gogh, The Starry Night"
  "images|HappyFish.jpg|$CV/data/HappyFish.jpg|drawing,clipart|clip-art fish"
  "images|horse.png|$SK/horse.png|drawing,silhouette,alpha|black horse silhouette, RGBA PNG (CC0)"
  # repeated people (tests/data/people.csv: who is who, by face box)
  "people|faceapi1.jpg|$FA/sample1.jpg|person,face,group|face-api demo: three women, one of them again in faceapi3 (MIT package; photo not committed)"
  "people|faceapi2.jpg|$FA/sample2.jpg|person,face,group|face-api demo: three women on a sofa"
  "people|faceapi3.jpg|$FA/sample3.jpg|person,face,group|face-api demo: three women at a bar, the middle one also in faceapi1"
  "people|faceapi4.jpg|$FA/sample4.jpg|person,face,group|face-api demo: four women, standing"
  "people|faceapi5.jpg|$FA/sample5.jpg|person,face,group|face-api demo: six women on a staircase"
  "people|faceapi6.jpg|$FA/sample6.jpg|person,face,group|face-api demo: four women by a window (phone photo)"
  "people|basketball2.png|$CV/data/basketball2.png|person,gray|the frame after basketball1.png (optical-flow pair): the same two people"
  # odd formats for decoder tests
  "formats|palette_color.png|$SK/palette_color.png|palette|10x10 palette PNG"
  "formats|palette_gray.png|$SK/palette_gray.png|palette,gray|10x10 gray palette PNG"
  "formats|green_palette.png|$SK/green_palette.png|palette|320x240 palette PNG"
  "formats|foo3x5x4indexed.png|$SK/foo3x5x4indexed.png|palette,tiny|5x3 indexed PNG"
  "formats|chessboard_GRAY.png|$SK/chessboard_GRAY.png|gray|200x200 grayscale PNG"
  "formats|truncated.jpg|$SK/truncated.jpg|jpeg,truncated|JPEG cut off after 400 bytes (must be invalid_image)"
  "formats|no_time_for_that_tiny.gif|$SK/no_time_for_that_tiny.gif|gif|animated GIF (must be unsupported_image_type)"
  "formats|chessboard_GRAY_U16.tif|$SK/chessboard_GRAY_U16.tif|tiff|16-bit TIFF (must be unsupported_image_type)"
  "formats|hubble_deep_field.jpg|$SK/hubble_deep_field.jpg|jpeg,exif|JPEG with an EXIF block (orientation 1)"
)

self_hash=$( (cat "$0"; printf '%s\n' "${DEBS[@]}" "${NPMS[@]}") | sha256sum | cut -c1-16)
if [[ -f $STAMP && $(cat "$STAMP") == "$self_hash" && -f $OUT/images.txt ]]; then
  ok=1
  while IFS=$'\t' read -r name _; do
    [[ $name == \#* ]] && continue
    [[ -f $OUT/images/$name || -f $OUT/formats/$name || -f $OUT/people/$name ]] || { ok=0; break; }
  done <"$OUT/images.txt"
  ((ok)) && exit 0
fi

mkdir -p "$CACHE" "$OUT/images" "$OUT/formats" "$OUT/people"
CACHE_ABS=$(cd "$CACHE" && pwd)

deb_path() { # pkg version -> cache path (apt-get's file name: ':' becomes %3a)
  echo "$CACHE_ABS/${1}_${2//:/%3a}_all.deb"
}

for entry in "${DEBS[@]}"; do
  read -r pkg ver sum <<<"$entry"
  f=$(deb_path "$pkg" "$ver")
  if [[ -f $f ]] && echo "$sum  $f" | sha256sum -c --quiet - 2>/dev/null; then
    continue
  fi
  rm -f "$f"
  echo "fetch-testdata: downloading $pkg=$ver" >&2
  # apt-get download writes into the current directory; as root it would
  # drop privileges to _apt, which cannot write here, so keep it root
  get() { (cd "$CACHE_ABS" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver") >/dev/null 2>"$CACHE_ABS/apt.err"; }
  if ! get; then
    if [[ $(id -u) -eq 0 ]]; then
      apt-get update -qq >/dev/null 2>&1 || true
      get || { cat "$CACHE_ABS/apt.err" >&2
               echo "fetch-testdata: could not download $pkg=$ver; if the mirror dropped" \
                    "this version (apt-cache policy $pkg), update its pin and sha256 in $0" >&2
               exit 1; }
    else
      cat "$CACHE_ABS/apt.err" >&2
      echo "fetch-testdata: could not download $pkg=$ver (run apt-get update as root," \
           "or update the pin in $0)" >&2
      exit 1
    fi
  fi
  if ! echo "$sum  $f" | sha256sum -c --quiet - >/dev/null 2>&1; then
    echo "fetch-testdata: sha256 mismatch for $f (expected $sum): refusing it" >&2
    rm -f "$f"
    exit 1
  fi
done
rm -f "$CACHE_ABS/apt.err"

# npm packages: npm pack of the pinned version, its sha256 checked
mkdir -p "$NPM_CACHE"
NPM_ABS=$(cd "$NPM_CACHE" && pwd)
npm_path() { # package version -> cache path (npm pack's file name)
  local n=${1#@}
  echo "$NPM_ABS/${n//\//-}-$2.tgz"
}
for entry in "${NPMS[@]}"; do
  read -r _ pkg ver sum <<<"$entry"
  f=$(npm_path "$pkg" "$ver")
  if [[ -f $f ]] && echo "$sum  $f" | sha256sum -c --quiet - 2>/dev/null; then
    continue
  fi
  rm -f "$f"
  echo "fetch-testdata: npm pack $pkg@$ver" >&2
  (cd "$NPM_ABS" && npm pack "$pkg@$ver" --silent >/dev/null) ||
    { echo "fetch-testdata: npm pack $pkg@$ver failed" >&2; exit 1; }
  if ! echo "$sum  $f" | sha256sum -c --quiet - >/dev/null 2>&1; then
    echo "fetch-testdata: sha256 mismatch for $f (expected $sum): refusing it" >&2
    rm -f "$f"
    exit 1
  fi
done

# extract only the members we use, package by package
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vkv-testdata.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for entry in "${DEBS[@]}"; do
  read -r pkg ver _ <<<"$entry"
  members=()
  for row in "${FILES[@]}"; do
    IFS='|' read -r _ _ src _ _ <<<"$row"
    [[ ${src%%:*} == "$pkg" ]] && members+=("./${src#*:}")
  done
  ((${#members[@]})) || continue
  mkdir -p "$tmp/$pkg"
  dpkg-deb --fsys-tarfile "$(deb_path "$pkg" "$ver")" | tar -x -C "$tmp/$pkg" "${members[@]}"
done
for entry in "${NPMS[@]}"; do
  read -r key pkg ver _ <<<"$entry"
  members=()
  for row in "${FILES[@]}"; do
    IFS='|' read -r _ _ src _ _ <<<"$row"
    [[ ${src%%:*} == "$key" ]] && members+=("${src#*:}")
  done
  ((${#members[@]})) || continue
  mkdir -p "$tmp/$key"
  tar -xzf "$(npm_path "$pkg" "$ver")" -C "$tmp/$key" "${members[@]}"
done

manifest=$tmp/images.txt
printf '# name\twidth\theight\tbytes\tsha256\ttags\tsource\tdescription\n' >"$manifest"
for row in "${FILES[@]}"; do
  IFS='|' read -r dir name src tags desc <<<"$row"
  pkg=${src%%:*}
  from=$tmp/$pkg/${src#*:}
  [[ -f $from ]] || { echo "fetch-testdata: $src missing from $pkg" >&2; exit 1; }
  install -m 0644 "$from" "$OUT/$dir/$name"
  read -r w h < <(python3 - "$OUT/$dir/$name" <<'EOF'
import struct, sys
d = open(sys.argv[1], 'rb').read()
w = h = 0
if d[:8] == b'\x89PNG\r\n\x1a\n':
    w, h = struct.unpack('>II', d[16:24])
elif d[:2] == b'\xff\xd8':
    i = 2
    while i + 4 <= len(d):
        if d[i] != 0xff: break
        m = d[i + 1]
        if m in (0xd8, 0x01) or 0xd0 <= m <= 0xd7:
            i += 2; continue
        n = struct.unpack('>H', d[i + 2:i + 4])[0]
        if 0xc0 <= m <= 0xcf and m not in (0xc4, 0xc8, 0xcc) and i + 9 <= len(d):
            h, w = struct.unpack('>HH', d[i + 5:i + 9]); break
        i += 2 + n
elif d[:6] in (b'GIF87a', b'GIF89a'):
    w, h = struct.unpack('<HH', d[6:10])
print(w, h)
EOF
)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$w" "$h" \
    "$(stat -c %s "$OUT/$dir/$name")" "$(sha256sum "$OUT/$dir/$name" | cut -c1-64)" \
    "$tags" "$src" "$desc" >>"$manifest"
done
mv "$manifest" "$OUT/images.txt"
echo "$self_hash" >"$STAMP"
n=$(grep -c -v '^#' "$OUT/images.txt")
echo "fetch-testdata: $n files in $OUT (manifest $OUT/images.txt)" >&2
