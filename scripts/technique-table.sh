#!/bin/sh
# The README technique table (issue 14): one row per net and config, one column per accuracy-recovery technique
# switched on alone and one with all of them; cell = fixed top-1 and its loss in pt against the float top-1 of the
# same held-out images (detectors: recall of the float faces at IoU >= 0.5). Runs scripts/accuracy-table.sh, so the
# splits are its own (disjoint): CI-sized by default, ACC_FULL=1 for the full sets.
#
# usage: scripts/technique-table.sh
# env: TT_ROWS (net:config list, default the README's rows), TT_COLUMNS (default "none equalize bias_correction
#      optimize_rounding th_search all"; also "optimized_weights", the rewrite alone), TT_DETECTOR_BLOCKS ("default
#      max": detectors also with --th_method max), and accuracy-table.sh's ACC_OUT, ACC_FULL, ACC_CAL_*, ACC_RESUME,
#      ACC_REPORT_ONLY (the table of the cells a run, stopped or going, has finished; nothing is run).
# Prints the markdown table, row by row as they finish; a run that fails is a "failed" cell (its log named).
set -e
cd "$(dirname "$0")/.."
OUT=${ACC_OUT:-/tmp/chaiq-techniques-$$}
ROWS=${TT_ROWS:-resnet20:X6 resnet20:X8 resnet20:DF6 quick:X6 full:X6 lenet:X6 lenet:DF6 slim:X6 slim:X8 rfb:X6 rfb:X8}
COLUMNS=${TT_COLUMNS:-none equalize bias_correction optimize_rounding th_search all}
BLOCKS=${TT_DETECTOR_BLOCKS:-default max}
# classifiers need only the float/fixed top-1 (--metrics agreement, twice as fast); detectors' metric needs the default
# DynamicFixed rows: the flags every column adds (TT_DF_FLAGS="" for the image reader's own DynamicFixed input)
DF_PRE=${TT_DF_FLAGS-"--df_input xilinx --optimized_weights "}
SIM_CLASSIFIER=${ACC_SIM_FLAGS:---metrics agreement}; SIM_DETECTOR=${ACC_SIM_FLAGS:-}
export ACC_OUT=$OUT ACC_KEEP_GOING=1
mkdir -p "$OUT"

# the quantize flags of a column in a config (th_search is Xilinx's: empty for DynamicFixed)
column_flags() { # $1 column, $2 config
  xil=""; case $2 in X*) xil=1 ;; esac
  case $1 in
    none) echo "" ;;
    optimized_weights) echo "--optimized_weights" ;;
    equalize) echo "--equalize --optimized_weights" ;;
    bias_correction) echo "--bias_correction --optimized_weights" ;;
    optimize_rounding) echo "--optimize_rounding --optimized_weights" ;;
    th_search) if [ -n "$xil" ]; then echo "--calibration float --th_search layer --optimized_weights"; fi ;;
    all) if [ -n "$xil" ]; then echo "--equalize --bias_correction --optimize_rounding --calibration float --th_search layer --optimized_weights"
         else echo "--equalize --bias_correction --optimize_rounding --optimized_weights"; fi ;;
    *) echo "unknown column $1" >&2; exit 2 ;;
  esac
}
column_title() {
  case $1 in none) echo "no technique" ;; all) echo "all" ;; th_search) echo '`--th_search layer`' ;; *) echo "\`--$1\`" ;; esac
}
net_title() {
  case $1 in lenet) echo LeNet ;; quick) echo "CIFAR-10 quick" ;; full) echo "CIFAR-10 full" ;; resnet20) echo ResNet-20 ;;
    slim) echo "UltraFace slim" ;; rfb) echo "UltraFace RFB" ;; yunet) echo YuFaceDetectNet ;; *) echo "$1" ;; esac
}
config_title() {
  case $1 in X*) echo "Xilinx ${1#X}" ;; DF*) echo "DynamicFixed ${1#DF}" ;; esac
}
is_detector() { case $1 in slim|rfb|yunet) return 0 ;; *) return 1 ;; esac; }
for c in $COLUMNS; do column_flags "$c" X8 > /dev/null; done
# a cell from the run's JSON, against the float of the block's first column (the original net, not a rewritten one)
cell() { # $1 float json, $2 cell json ("" = not run), $3 float|fixed
  node -e 'const fs = require("fs"); const [fj, cj, what] = process.argv.slice(1);
  const p = (x) => (100 * x).toFixed(2), rd = (f) => JSON.parse(fs.readFileSync(f, "utf8"));
  if (!fs.existsSync(fj) || (what === "fixed" && !fs.existsSync(cj))) { console.log(process.env.ACC_REPORT_ONLY ? "not run" : "failed"); process.exit(0); }
  const f = rd(fj);
  if (what === "float") { console.log(f.detection ? f.detection.float_detections + " faces" : p(f.accuracy.float.top1) + " %"); process.exit(0); }
  const r = rd(cj), d = r.detection;
  if (d) console.log(p(d.recall) + " % (" + d.matched + "/" + d.float_detections + ")");
  else { const loss = 100 * (r.accuracy.fixed.top1 - f.accuracy.float.top1);
    console.log(p(r.accuracy.fixed.top1) + " % (" + (loss < -0.005 ? "−" + Math.abs(loss).toFixed(2) : "+" + Math.abs(loss).toFixed(2)) + ")"); }' "$1" "$2" "$3"
}

first=$(echo $COLUMNS | cut -d' ' -f1)
[ "$first" = none ] || { echo "TT_COLUMNS must start with none (the float and the baseline)" >&2; exit 2; }
printf '| net | mode, bits | float |'; for c in $COLUMNS; do printf ' %s |' "$(column_title "$c")"; done; echo
printf '|---|---|---|'; for c in $COLUMNS; do printf -- '---|'; done; echo
: > "$OUT/splits.txt"
for r in $ROWS; do
  n=${r%%:*}; cfg=${r#*:}
  blocks=default; if is_detector "$n"; then blocks=$BLOCKS; fi
  for b in $blocks; do
    pre=""; lp=""; title=$(net_title "$n")
    if [ "$b" = max ]; then pre="--th_method max "; lp="max-"; title="$title, \`--th_method max\`"; fi
    # DynamicFixed: the board's image reader clips a 0..255 input at fl >= 0; every column reads it in Xilinx mode
    case $cfg in DF*) pre="$pre$DF_PRE"; lp="${lp}dfx-" ;; esac
    set --
    for c in $COLUMNS; do
      f=$(column_flags "$c" "$cfg")
      if [ "$c" != none ] && [ -z "$f" ]; then continue; fi
      set -- "$@" "$lp$c:$pre$f"
    done
    sim=$SIM_CLASSIFIER; if is_detector "$n"; then sim=$SIM_DETECTOR; fi
    ACC_NETS=$n ACC_CONFIGS=$cfg ACC_SIM_FLAGS=$sim sh scripts/accuracy-table.sh "$@" > "$OUT/$lp$n-$cfg.txt" 2>&1 || {
      echo "accuracy-table.sh failed on $n $cfg: $OUT/$lp$n-$cfg.txt" >&2; exit 1; }
    sed -n '/^Split/,/^$/p' "$OUT/$lp$n-$cfg.txt" | grep -v '^Split\|^$' >> "$OUT/splits.txt"
    fj=$OUT/${lp}none/$n-$cfg/sim.json
    row="| $title | $(config_title "$cfg") | $(cell "$fj" "" float) |"
    for c in $COLUMNS; do
      if [ "$c" != none ] && [ -z "$(column_flags "$c" "$cfg")" ]; then row="$row – |"
      else row="$row $(cell "$fj" "$OUT/$lp$c/$n-$cfg/sim.json" fixed) |"; fi
    done
    echo "$row"
  done
done
echo
echo "Split (disjoint):"; awk '!seen[$0]++' "$OUT/splits.txt"
echo "Cell: fixed top-1 (loss in pt against the float top-1 of the same images); detectors: recall of the float faces."
echo "Flags: $(for c in $COLUMNS; do printf '%s = "%s"; ' "$c" "$(column_flags "$c" X6)"; done)DynamicFixed: all without th_search, every column with \"$DF_PRE\"."
echo "Run time: $(find "$OUT" -name seconds -exec cat {} + | awk '{ s += $1 } END { printf "%.0f", s / 60 }') min, the sum of the cells' (their seconds files)."
echo "(commands: $OUT/commands.txt; per-run logs, JSON and seconds under $OUT)"
