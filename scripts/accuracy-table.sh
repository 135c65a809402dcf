#!/bin/sh
# The README Accuracy table, on calibration/evaluation splits that are disjoint:
#   MNIST t10k: calibration draws from digits 0–999, evaluation on 1000–9999;
#   CIFAR-10 2000-JPEG subset: calibration draws from the first 20 (sorted) of each class, evaluation on the
#   other 180 of each (1800).
#   Face detectors (UltraFace slim/RFB, YuFaceDetectNet): calibration on MTCNN's test1.jpg and test2.jpg, evaluation on
#   UltraFace's imgs/1.jpg and imgs/2.jpg (the corpus' four face images); the cell is the recall of the float faces
#   (score > 0.5) by the fixed net at IoU >= 0.5, with the precision.
# CI-sized by default (MNIST eval 1000–1999, CIFAR eval 10 per class of the 180, face nets at 160×120); ACC_FULL=1
# runs the full sets (face nets at their 320×240).
#
# usage: scripts/accuracy-table.sh [COLUMN ...]
#   COLUMN = "label:quantize flags", e.g. "baseline:" (the default), "equalize:--equalize",
#   "all:--equalize --bias_correction --optimize_rounding --optimized_weights". A column whose flags name
#   --optimized_weights (no argument) writes the rewritten caffemodel and simulates it with the input its header names.
# env: ACC_NETS (default "lenet quick full resnet20", more: "slim rfb yunet"), ACC_CONFIGS (default "X8 X6 DF8 DF6"), ACC_OUT (work dir, kept),
#      CHAIQ (the command, default "node bin/chaiq.js"), ACC_CAL_MNIST (100), ACC_CAL_CIFAR (32),
#      ACC_SIM_FLAGS (extra simulate flags, e.g. "--metrics agreement"), ACC_KEEP_GOING=1 (a failing run is a
#      "failed" cell, not the end), ACC_RESUME=1 (keep a cell already simulated with the same flags and split),
#      ACC_REPORT_ONLY=1 (print the cells already simulated, run nothing; the others are "not run").
# Prints one markdown table per column: float top-1, and per config fixed top-1 (float/fixed top-1 agreement), in %.
set -e
cd "$(dirname "$0")/.."
C=${CORPUS:-../shared/corpus}
OUT=${ACC_OUT:-/tmp/chaiq-accuracy-$$}
CHAIQ=${CHAIQ:-node bin/chaiq.js}
NETS=${ACC_NETS:-lenet quick full resnet20}
CONFIGS=${ACC_CONFIGS:-X8 X6 DF8 DF6}
CAL_MNIST=${ACC_CAL_MNIST:-100}
CAL_CIFAR=${ACC_CAL_CIFAR:-32}
SIMFLAGS=${ACC_SIM_FLAGS:-}
[ $# -eq 0 ] && set -- "baseline:"
mkdir -p "$OUT"

# ---- the splits ----
if [ -n "$ACC_FULL" ]; then MNIST_EVAL_END=10000; CIFAR_EVAL_PER_CLASS=180; else MNIST_EVAL_END=2000; CIFAR_EVAL_PER_CLASS=10; fi
# smaller still (the suite's run): ACC_MNIST_EVAL digits from 1000 on, ACC_CIFAR_EVAL_PER_CLASS JPEGs after the 20th
[ -n "$ACC_MNIST_EVAL" ] && MNIST_EVAL_END=$((1000 + ACC_MNIST_EVAL))
[ -n "$ACC_CIFAR_EVAL_PER_CLASS" ] && CIFAR_EVAL_PER_CLASS=$ACC_CIFAR_EVAL_PER_CLASS
# ACC_REPORT_ONLY=1 prints the table of the cells already run (a long run, stopped or still going) and runs nothing
if [ -z "$ACC_REPORT_ONLY" ]; then
node -e '
const fs = require("fs"), zlib = require("zlib");
const [imgF, labF, out, evalEnd] = process.argv.slice(1);
const img = zlib.gunzipSync(fs.readFileSync(imgF)), lab = zlib.gunzipSync(fs.readFileSync(labF));
const idx3 = (a, b) => { const h = Buffer.from(img.subarray(0, 16)); h.writeUInt32BE(b - a, 4); return Buffer.concat([h, img.subarray(16 + a * 784, 16 + b * 784)]); };
const idx1 = (a, b) => { const h = Buffer.from(lab.subarray(0, 8)); h.writeUInt32BE(b - a, 4); return Buffer.concat([h, lab.subarray(8 + a, 8 + b)]); };
fs.writeFileSync(out + "/mnist_calib.idx3", idx3(0, 1000));
fs.writeFileSync(out + "/mnist_eval.idx3", idx3(1000, +evalEnd));
fs.writeFileSync(out + "/mnist_eval.idx1", idx1(1000, +evalEnd));
' "$C/data/mnist/t10k-images-idx3-ubyte.gz" "$C/data/mnist/t10k-labels-idx1-ubyte.gz" "$OUT" "$MNIST_EVAL_END"
CIF=$C/data/cifar10_test_jpg_subset
# symlinks made in one node process (not one ln per image: this runs once per call, and callers loop)
node -e '
const fs = require("fs"), path = require("path");
const [cif, out, perClass] = process.argv.slice(1);
for (const s of ["cifar_calib", "cifar_eval"]) fs.rmSync(path.join(out, s), { recursive: true, force: true });
for (const cls of fs.readdirSync(cif).sort()) {
  const d = path.resolve(cif, cls);
  if (!fs.statSync(d).isDirectory()) continue;
  const files = fs.readdirSync(d).sort();
  for (const [s, list] of [["cifar_calib", files.slice(0, 20)], ["cifar_eval", files.slice(20, 20 + +perClass)]]) {
    fs.mkdirSync(path.join(out, s, cls), { recursive: true });
    for (const f of list) fs.symlinkSync(path.join(d, f), path.join(out, s, cls, f));
  }
}
' "$CIF" "$OUT" "$CIFAR_EVAL_PER_CLASS"
rm -rf "$OUT/faces_calib" "$OUT/faces_eval"; mkdir -p "$OUT/faces_calib" "$OUT/faces_eval"
for f in models/mtcnn_kpzhang93/test1.jpg models/mtcnn_kpzhang93/test2.jpg; do ln -s "$(cd "$C" && pwd)/$f" "$OUT/faces_calib/"; done
for f in images/ultraface_imgs_1.jpg images/ultraface_imgs_2.jpg; do ln -s "$(cd "$C" && pwd)/$f" "$OUT/faces_eval/"; done
fi
if [ -n "$ACC_FULL" ]; then FACE_SHAPE=1,3,240,320; else FACE_SHAPE=1,3,120,160; fi
N_MNIST_EVAL=$((MNIST_EVAL_END - 1000))
N_CIFAR_EVAL=$((CIFAR_EVAL_PER_CLASS * 10))

M=$C/models
CIFPRE="--dims 3,32,32 --channel_swap 0,1,2 --raw_scale 255"
net_args() { # sets D W PRE SIMPRE_OPT CAL EV
  case $1 in
    lenet) D=models/lenet/lenet.prototxt; W=models/lenet/lenet_iter_10000.caffemodel; PRE=""; SIMPRE_OPT=""
      CAL="--mnist $OUT/mnist_calib.idx3 --calibration_size $CAL_MNIST"; EV="--mnist $OUT/mnist_eval.idx3 --mnist_labels $OUT/mnist_eval.idx1" ;;
    quick|full|resnet20)
      MEANOPT="--mean_file $M/cifar10_resnet20_lijianfei/cifar10_mean.binaryproto"
      case $1 in
        quick) D=$M/cifar10_quick_v1_everpeace/cifar10_quick.prototxt; W=$M/cifar10_quick_v1_everpeace/cifar10_quick_iter_5000.caffemodel
          PRE="$CIFPRE --mean_file $M/cifar10_resnet20_lijianfei/cifar10_mean.binaryproto" ;;
        full) D=$M/cifar10_full_v1_everpeace/cifar10_full.prototxt; W=$M/cifar10_full_v1_everpeace/cifar10_full_iter_70000.caffemodel
          PRE="$CIFPRE --mean_file $M/cifar10_resnet20_lijianfei/cifar10_mean.binaryproto" ;;
        resnet20) D=test/fixtures/quant/resnet20_deploy.prototxt; W=$M/cifar10_resnet20_lijianfei/cifar10_ResNet_20_iter_53500.caffemodel
          PRE="$CIFPRE --mean_value 125.3,122.9,113.8 --input_scale 0.00390625"; MEANOPT="" ;;
      esac
      # a rewritten net whose header names a mean image takes that image again
      SIMPRE_OPT="--dims 3,32,32 --channel_swap 0,1,2 $MEANOPT"
      CAL="--calibration_directory $OUT/cifar_calib --calibration_size $CAL_CIFAR"; EV="--calibration_directory $OUT/cifar_eval --labels_from_dirname" ;;
    slim|rfb|yunet)
      case $1 in
        slim) D=$M/ultraface_slim320_linzaer/slim-320.prototxt; W=$M/ultraface_slim320_linzaer/slim-320.caffemodel ;;
        rfb) D=$M/ultraface_rfb320_linzaer/RFB-320.prototxt; W=$M/ultraface_rfb320_linzaer/RFB-320.caffemodel ;;
        yunet) D=$M/yufacedetectnet_v1_libfacedetection/yufacedetectnet-open-v1.prototxt; W=$M/yufacedetectnet_v1_libfacedetection/yufacedetectnet-open-v1.caffemodel ;;
      esac
      # UltraFace: RGB, (x − 127)/128; YuFaceDetectNet: BGR minus 104,117,123 (the corpus' SOURCES.md)
      if [ "$1" = yunet ]; then PRE="--input_shape $FACE_SHAPE --mean_value 104,117,123"; SIMPRE_OPT="--input_shape $FACE_SHAPE"
      else PRE="--input_shape $FACE_SHAPE --channel_swap 0,1,2 --raw_scale 255 --mean_value 127,127,127 --input_scale 0.0078125"; SIMPRE_OPT="--input_shape $FACE_SHAPE --channel_swap 0,1,2"; fi
      CAL="--calibration_directory $OUT/faces_calib --calibration_size 2"; EV="--calibration_directory $OUT/faces_eval" ;;
    *) echo "unknown net $1" >&2; exit 2 ;;
  esac
}
config_args() {
  case $1 in
    X8) Q="--bitwidths 8,8,8" ;; X6) Q="--bitwidths 6,6,6" ;;
    DF8) Q="--bitwidths 8,8,8 --quant_type DynamicFixed --fl_bitwidths auto" ;;
    DF6) Q="--bitwidths 6,6,6 --quant_type DynamicFixed --fl_bitwidths auto" ;;
    *) echo "unknown config $1" >&2; exit 2 ;;
  esac
}
# a detector's cells: the float faces, and the fixed net's recall of them (its precision)
cell() { node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const p = (x) => (x === null ? "-" : (100 * x).toFixed(2));
  const d = r.detection, fl = process.argv[2] === "float";
  if (d) console.log(fl ? d.float_detections + " faces" : "recall " + p(d.recall) + " % (" + d.matched + "/" + d.float_detections + "), precision " + p(d.precision) + " %");
  else console.log(fl ? p(r.accuracy.float.top1) + " %" : p(r.accuracy.fixed.top1) + " % (" + p(r.agreement.top1) + " %)");' "$1" "$2"; }

echo "Split (disjoint):"
case " $NETS " in *" lenet "*)
  echo "LeNet calibration $CAL_MNIST digits drawn (seed 0) from MNIST t10k 0–999, evaluation on t10k 1000–$((MNIST_EVAL_END - 1)) ($N_MNIST_EVAL);" ;;
esac
case " $NETS " in *" quick "*|*" full "*|*" resnet20 "*)
  echo "CIFAR-10 calibration $CAL_CIFAR images drawn (seed 0) from the first 20 per class of the 2000-JPEG subset, evaluation on $N_CIFAR_EVAL of the other 1800." ;;
esac
case " $NETS " in *" slim "*|*" rfb "*|*" yunet "*)
  echo "Face detectors at input shape $FACE_SHAPE: calibration on MTCNN test1.jpg, test2.jpg; evaluation on UltraFace imgs/1.jpg, imgs/2.jpg;"
  echo "cell: recall of the float faces (score > 0.5) by the fixed net at IoU >= 0.5 (matched/float), and its precision." ;;
esac
for col in "$@"; do
  label=${col%%:*}; flags=${col#*:}
  echo
  echo "Column '$label': quantize flags '${flags}'"
  echo
  printf '| net | float |'; for c in $CONFIGS; do printf ' %s |' "$c"; done; echo
  printf '|---|---|'; for c in $CONFIGS; do printf -- '---|'; done; echo
  for n in $NETS; do
    net_args "$n"
    row="| $n |"; floatcell=""
    for c in $CONFIGS; do
      config_args "$c"
      dir=$OUT/$label/$n-$c; mkdir -p "$dir"
      qflags=""; simw=$W; simpre=$PRE
      for t in $flags; do
        if [ "$t" = "--optimized_weights" ]; then
          [ "$simw" = "$dir/q.caffemodel" ] && continue # named twice (a row's flags and a column's)
          qflags="$qflags --optimized_weights $dir/q.caffemodel"; simw=$dir/q.caffemodel; simpre=$SIMPRE_OPT
        else qflags="$qflags $t"; fi
      done
      if [ -z "$ACC_REPORT_ONLY" ]; then
        echo "+ chaiq quantize --deploy_model $D --weights $W $CAL $PRE $Q$qflags --quantized_deploy_model q.prototxt" >> "$OUT/commands.txt"
        echo "+ chaiq simulate --deploy_model q.prototxt --weights $simw $EV $simpre $SIMFLAGS --format json" >> "$OUT/commands.txt"
      fi
      # ACC_RESUME=1 keeps a cell already simulated with the same flags and split (a long run, continued)
      rc=0; stamp="$Q$qflags|$CAL|$PRE|$EV|$N_MNIST_EVAL|$N_CIFAR_EVAL|$FACE_SHAPE|$SIMFLAGS"
      if { [ -n "$ACC_RESUME" ] || [ -n "$ACC_REPORT_ONLY" ]; } && [ -s "$dir/sim.json" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then :
      elif [ -n "$ACC_REPORT_ONLY" ]; then row="$row not run |"; continue
      else
        rm -f "$dir/sim.json" "$dir/stamp"; : > "$dir/log"; t0=$(date +%s)
        $CHAIQ quantize -q --deploy_model "$D" --weights "$W" $CAL $PRE $Q $qflags --quantized_deploy_model "$dir/q.prototxt" 2>> "$dir/log" || rc=$?
        [ $rc -eq 0 ] && { $CHAIQ simulate --deploy_model "$dir/q.prototxt" --weights "$simw" $EV $simpre $SIMFLAGS --top 1 --format json > "$dir/sim.json.tmp" 2>> "$dir/log" || rc=$?; }
        if [ $rc -ne 0 ]; then
          rm -f "$dir/sim.json.tmp"
          [ -n "$ACC_KEEP_GOING" ] || { cat "$dir/log" >&2; exit $rc; }
          row="$row failed (exit $rc: $dir/log) |"; continue
        fi
        mv "$dir/sim.json.tmp" "$dir/sim.json"; printf '%s' "$stamp" > "$dir/stamp"; echo $(($(date +%s) - t0)) > "$dir/seconds"
      fi
      [ -z "$floatcell" ] && floatcell=$(cell "$dir/sim.json" float)
      row="$row $(cell "$dir/sim.json" fixed) |"
    done
    if [ -z "$floatcell" ]; then floatcell=failed; fi
    echo "| $n | $floatcell |${row#"| $n |"}"
  done
done
echo
echo "(commands: $OUT/commands.txt; per-run logs and JSON under $OUT)"
